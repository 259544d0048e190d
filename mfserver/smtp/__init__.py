"""The SMTP server: inbound MX (port 25) and authenticated submission (587, 465)."""
