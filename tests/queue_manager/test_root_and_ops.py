from fastapi.testclient import TestClient


def test_root_message(client: TestClient) -> None:
    assert client.get("/").json() == {"message": "This is the queue manager."}


def test_health_ready_metrics(client: TestClient) -> None:
    assert client.get("/health").json() == {"status": "ok", "service": "queue_manager"}
    ready = client.get("/ready")
    assert ready.status_code == 200 and ready.json()["checks"]["mongodb"] == "ok"
    client.get("/queue_manager/datasets")
    metrics = client.get("/metrics").text
    assert 'http_requests_total{method="GET",route="/queue_manager/datasets",status="200"}' in metrics


def test_ready_fails_when_mongodb_is_unreachable(api_token: str) -> None:
    from queue_manager.main import create_app
    from queue_manager.settings import Settings

    settings = Settings(mongodb_uri="mongodb://127.0.0.1:1/x?retryWrites=false&serverSelectionTimeoutMS=300",
                        api_token=api_token, amqp_url="amqp://guest:guest@127.0.0.1:1/")
    with TestClient(create_app(settings)) as c:
        response = c.get("/ready")
        assert response.status_code == 503
        assert "unreachable" in response.json()["checks"]["mongodb"]


def test_ready_creates_no_indexes(client: TestClient, mongo_uri: str) -> None:
    """Indexes are made once, at start-up; the probe only pings MongoDB."""
    import pymongo

    mongo: pymongo.MongoClient[dict] = pymongo.MongoClient(mongo_uri)
    with mongo:
        datasets = mongo.get_default_database()["datasets"]
        assert "name_1" in datasets.index_information(), "made at start-up"
        datasets.drop_index("name_1")
        assert client.get("/ready").json()["checks"]["mongodb"] == "ok"
        assert "name_1" not in datasets.index_information()
