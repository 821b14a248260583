"""harmonise package."""
