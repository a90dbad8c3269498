"""All SQL lives here: tables, the database session, one repository module per aggregate."""
