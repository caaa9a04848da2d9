"""The bare baseline for benchmarks.service_load: a Flask app whose POST /predict echoes the JSON body.

Served by gunicorn with the service's own gunicorn.conf.py, it shows what the HTTP stack alone costs.
"""
from flask import Flask, request


def create_app() -> Flask:
    app = Flask(__name__)

    @app.post("/predict")
    def predict():
        return request.get_json()

    return app
