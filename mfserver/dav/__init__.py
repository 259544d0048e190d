"""Calendars, contacts and documents over HTTPS: Radicale (CalDAV/CardDAV) at /dav/, WsgiDAV
(WebDAV) at /files/, public share links at /s/, and discovery from the bare host name.

Modules: `gate` (bounds, hostile input, login, in front of every application), `login` (the
bridge to the twisted.cred portal), `xmlguard`, `calendars` (Radicale), `files` (WsgiDAV),
`discovery`, `sharebook` (links in the database), `shares_app` (links on the wire), `mount`
(everything put together for the HTTPS site).
"""
