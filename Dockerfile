# App image: the producers (`coins stream`, `coins backfill`), the ksqlDB applier
# (`coins-ksql-apply`), the backfill scheduler (`coins-daily`), the stream healthcheck and the
# alert service (`coins alerts`).
# No secret is baked in: every setting comes from the environment at run time.
ARG PYTHON_IMAGE=python:3.11-slim-bookworm

FROM ${PYTHON_IMAGE} AS build
ENV PIP_NO_CACHE_DIR=1 \
    PIP_DISABLE_PIP_VERSION_CHECK=1
RUN python -m venv /opt/venv
ENV PATH=/opt/venv/bin:$PATH
WORKDIR /src
# Dependencies first, from pyproject.toml alone, so a code change does not reinstall them.
COPY pyproject.toml README.md ./
RUN python -c "import tomllib; print(chr(10).join(tomllib.load(open('pyproject.toml', 'rb'))['project']['dependencies']))" > /tmp/requirements.txt \
    && pip install -r /tmp/requirements.txt
# Every package of pyproject's [tool.setuptools.packages.find] (tests/unit/test_dockerfile.py).
COPY producers ./producers
COPY provisioning ./provisioning
COPY embedded ./embedded
COPY terminal ./terminal
COPY portfolio ./portfolio
COPY alerts ./alerts
RUN pip install --no-deps .

FROM ${PYTHON_IMAGE}
ENV PATH=/opt/venv/bin:$PATH \
    PYTHONUNBUFFERED=1 \
    PYTHONDONTWRITEBYTECODE=1
RUN useradd --system --uid 10001 --user-group --home-dir /app --shell /usr/sbin/nologin coins
COPY --from=build /opt/venv /opt/venv
WORKDIR /app
COPY ksqldb ./ksqldb
USER coins
CMD ["coins", "stream"]
