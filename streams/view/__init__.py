"""The read side (``csscore serve``): a materialised view of the score topic and the web
pages and JSON built on it. Nothing here writes to Kafka; every instance rebuilds its view
from the topic and its own local store."""
