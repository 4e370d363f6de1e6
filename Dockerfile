FROM python:3.11-slim
RUN apt-get update && apt-get install -y --no-install-recommends gettext curl && rm -rf /var/lib/apt/lists/*
WORKDIR /app
COPY pyproject.toml README.md ./
COPY . .
# The build has no SECRET_KEY (it comes from .env at run time); compiling translations needs none, so this
# one step runs with DEBUG=true.
RUN pip install --no-cache-dir -e . && DEBUG=true python manage.py compilemessages
ENV DJANGO_SETTINGS_MODULE=config.settings PYTHONUNBUFFERED=1
EXPOSE 8000
