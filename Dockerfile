# syntax=docker/dockerfile:1
# promptrag's app as a server (docs/deploy.md). CPU by default:
#   docker build -t promptrag .
# CUDA (torch's CUDA build instead of its CPU one; run with --gpus all, NVIDIA Container Toolkit on the host):
#   docker build --build-arg TORCH_INDEX=https://download.pytorch.org/whl/cu128 -t promptrag:cuda .
# constraints/cpu.txt pins torch's version only; which build comes in is the index's choice, so the
# same pin serves both.
#
# In the image: the app, Claude (Anthropic API, Bedrock), diffusers on CPU/GPU and Bedrock images,
# Milvus (pymilvus + Milvus Lite) and the Ray client. Left out: the local-LLM extra
# (llama-cpp-python compiles for minutes and needs a compiler), LangChain, dynamic prompts, the
# test tools. No model weights are baked in: the embedding model ships in a package, and image
# models download into the volume on first use.

ARG PYTHON_VERSION=3.11

FROM python:${PYTHON_VERSION}-slim-bookworm AS build
ARG TORCH_INDEX=https://download.pytorch.org/whl/cpu
ARG EXTRAS=app,claude,generate,milvus,ray
ENV PIP_NO_CACHE_DIR=1 PIP_DISABLE_PIP_VERSION_CHECK=1
RUN python -m venv /opt/promptrag
WORKDIR /src
COPY . .
RUN /opt/promptrag/bin/pip install --extra-index-url "${TORCH_INDEX}" -c constraints/cpu.txt ".[${EXTRAS}]" \
 && /opt/promptrag/bin/promptrag --help > /dev/null

FROM python:${PYTHON_VERSION}-slim-bookworm
ARG UID=10001
RUN useradd --uid "${UID}" --create-home --home-dir /home/promptrag --shell /usr/sbin/nologin promptrag \
 && mkdir -p /data /app/.streamlit \
 && chown promptrag /data
COPY --from=build /opt/promptrag /opt/promptrag
# Streamlit reads .streamlit/ from the working directory: the app's settings (upload size, theme, no
# tracebacks on the page); secrets.toml is mounted beside it at run time, never built in.
COPY .streamlit/config.toml /app/.streamlit/config.toml
COPY examples/ /app/examples/
ENV PATH=/opt/promptrag/bin:$PATH \
    PROMPTRAG_HOME=/data \
    HF_HOME=/data/huggingface \
    PYTHONUNBUFFERED=1
WORKDIR /app
USER promptrag
VOLUME /data
EXPOSE 8501
# The first start may build the starter index (a minute or two) before the server answers.
HEALTHCHECK --interval=30s --timeout=5s --start-period=10m --retries=3 \
  CMD ["python", "-c", "import urllib.request; urllib.request.urlopen('http://127.0.0.1:8501/_stcore/health', timeout=4)"]
CMD ["promptrag", "serve", "--starter", "--port", "8501"]
