"""`python -m worker`"""

import logging

from worker.main import main
from worker.settings import load_settings

logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(name)s: %(message)s")
logging.getLogger("httpx").setLevel(logging.WARNING)
main(load_settings())
