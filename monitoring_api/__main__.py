"""`python -m monitoring_api`"""

import logging

import uvicorn

from conveyor.settings import settings_or_exit
from monitoring_api.main import create_app
from monitoring_api.settings import load_settings

settings = settings_or_exit(load_settings)
logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(name)s: %(message)s")
logging.getLogger("httpx").setLevel(logging.WARNING)
uvicorn.run(create_app(settings), host=settings.host, port=settings.port, log_level="info")
