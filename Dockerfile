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
# Dependencies first, from the hash-locked runtime set alone (`make lock` writes it from
# pyproject.toml), so a code change does not reinstall them and every build gets the same bytes.
COPY requirements/build.lock requirements/runtime.lock ./requirements/
RUN pip install --require-hashes -r requirements/build.lock -r requirements/runtime.lock
COPY pyproject.toml README.md LICENSE ./
# Every package of pyproject's [tool.setuptools.packages.find] (tests/unit/test_dockerfile.py).
COPY producers ./producers
COPY provisioning ./provisioning
COPY embedded ./embedded
COPY terminal ./terminal
COPY portfolio ./portfolio
COPY alerts ./alerts
RUN pip install --no-deps --no-build-isolation .

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
