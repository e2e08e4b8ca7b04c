"""`python -m worker`"""

import logging

from conveyor.settings import settings_or_exit
from worker.main import main
from worker.settings import load_settings

logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(name)s: %(message)s")
logging.getLogger("httpx").setLevel(logging.WARNING)
main(settings_or_exit(load_settings))
