# Run with: twistd -ny mfserver.tac   (MFSERVER_CONFIG=path/to/mfserver.toml to choose a file)
from mfserver.service import application as _application

application = _application()
