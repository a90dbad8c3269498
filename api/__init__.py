"""The HTTP service: REST for BI tools and people, and the admin API."""
