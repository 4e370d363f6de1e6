FROM python:3.11-slim
RUN apt-get update && apt-get install -y --no-install-recommends gettext curl && rm -rf /var/lib/apt/lists/*
WORKDIR /app
COPY pyproject.toml README.md ./
COPY . .
RUN pip install --no-cache-dir -e . && python manage.py compilemessages
ENV DJANGO_SETTINGS_MODULE=config.settings PYTHONUNBUFFERED=1
EXPOSE 8000
