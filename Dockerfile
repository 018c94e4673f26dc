# The live runtime only (socbal run): the core plus socbal[runtime], no simulator extras.
#   docker build -t socbal-runtime .
#   docker run --rm -v "$PWD/examples:/config:ro" socbal-runtime /config/runtime_modbus.toml
FROM python:3.11-slim
WORKDIR /build
COPY pyproject.toml README.md ./
COPY src ./src
COPY examples ./examples
RUN pip install --no-cache-dir ".[runtime]" && rm -rf /build
RUN useradd --create-home --uid 1000 socbal
USER socbal
WORKDIR /config
ENTRYPOINT ["socbal", "run"]
CMD ["/config/runtime.toml"]
