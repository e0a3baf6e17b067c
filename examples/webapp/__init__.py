"""A Starlette app whose state lives in a supervision tree, served by uvicorn.

    pip install -e '.[examples]'
    cd examples && python -m webapp --port 8000
    curl localhost:8000/count
    curl -X POST 'localhost:8000/add?n=2'
    curl -X POST localhost:8000/crash     # a 500; the next request is served again

See app.py for the app and its lifespan, __main__.py for the server, and
docs/embedding.md for the recipe.
"""
