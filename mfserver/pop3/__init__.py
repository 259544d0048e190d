"""The POP3 server (RFC 1939 with CAPA RFC 2449, STLS RFC 2595, SASL RFC 5034, response codes
RFC 3206) over the store's INBOX.

- `connection`: framing, STLS, bounds, idle timeout, output back-pressure (Twisted).
- `parser`: command lines and numbers (pure).
- `session`: states, the command table, replies, login, the UPDATE state.
- `authorization`, `transaction`: the commands of each state.
- `maildrop`: the session's snapshot of INBOX, unique ids, the per-process IN-USE locks.
- `transfer`: RETR/TOP text (line ends, byte-stuffing, TOP's limit) and the file reader.
- `server`: the listeners' factory.
"""
