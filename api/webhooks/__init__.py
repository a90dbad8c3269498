"""Webhook receivers: one URL per connection, authenticated by the vendor's signature."""
