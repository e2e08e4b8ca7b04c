"""`python -m queue_manager`"""

import logging

import uvicorn

from conveyor.settings import settings_or_exit
from queue_manager.main import create_app
from queue_manager.settings import load_settings

settings = settings_or_exit(load_settings)
logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(name)s: %(message)s")
uvicorn.run(create_app(settings), host=settings.host, port=settings.port, log_level="info")
