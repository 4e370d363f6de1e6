"""Demo users (passwords printed), demo prompts with imported answers, and rating/ranking tasks.

Idempotent: users are created once (their passwords reset and printed on every run), demo content is
added once (recognised by its prompts' texts).
"""

import json
import secrets
from pathlib import Path

from django.contrib.auth import get_user_model
from django.core.management.base import BaseCommand
from django.db import transaction

from annotation.models import RatingPair, Task, TaskKind, TaskResponse
from core import roles
from generation.models import Endpoint, Generation, PrePrompt
from prompts.models import Category, Prompt, Topic
from prompts.services import prompt_create

DEMO_FILE = Path(__file__).resolve().parents[2] / "demo_data.json"
DEMO_USERS = [("admin", roles.ADMIN), ("qa", roles.QA_LEAD), ("ania", roles.ANNOTATOR),
              ("bartek", roles.ANNOTATOR), ("celina", roles.ANNOTATOR)]


class Command(BaseCommand):
    help = "Create demo users (printing their passwords) and demo tasks."

    def add_arguments(self, parser):
        parser.add_argument("--password", help="use this password for every demo user instead of random ones")

    def handle(self, *args, **options):
        User = get_user_model()
        roles.ensure_groups()
        lines = []
        for username, role in DEMO_USERS:
            user, _ = User.objects.get_or_create(username=username, defaults={"email": f"{username}@example.com"})
            password = options["password"] or secrets.token_urlsafe(9)
            user.set_password(password)
            if role == roles.ADMIN:
                user.is_staff = user.is_superuser = True
            user.save()
            roles.set_role(user, role)
            lines.append(f"  {username:8} {role:10} {password}")
        created = self.seed_content()
        self.stdout.write("demo users (username, role, password):\n" + "\n".join(lines))
        self.stdout.write(f"demo content: {created} new prompts with tasks")

    @transaction.atomic
    def seed_content(self) -> int:
        data = json.loads(DEMO_FILE.read_text(encoding="utf-8"))
        endpoints = [
            Endpoint.objects.get_or_create(name=name, defaults={"model": name, "is_active": False})[0]
            for name in data["models"]
        ]
        none_version = PrePrompt.objects.get(key="none").versions.order_by("-version").first()
        created = 0
        for item in data["items"]:
            if Prompt.objects.filter(text=item["text"]).exists():
                continue
            category = Category.objects.get(key=item["category"])
            topic = Topic.objects.filter(categories=category, name_en=item["topic"]).first() if item["topic"] else None
            prompt = prompt_create(author=None, text=item["text"], category=category, topic=topic)
            generations = [
                Generation.objects.create(
                    prompt=prompt, endpoint=endpoint, preprompt_version=none_version, status=Generation.Status.DONE,
                    raw_text=answer, text=answer, imported=True,
                )
                for endpoint, answer in zip(endpoints, item["answers"], strict=True)
            ]
            ranking = Task.objects.create(kind=TaskKind.RANKING, prompt=prompt, overlap=2, remaining=2, seed=0)
            TaskResponse.objects.bulk_create(
                [TaskResponse(task=ranking, generation=g, position=i) for i, g in enumerate(generations)]
            )
            pair = RatingPair.objects.create(prompt=prompt, seed=0)
            for generation in generations[:2]:  # two distinct models, one rating item each
                task = Task.objects.create(
                    kind=TaskKind.RATING, prompt=prompt, overlap=2, remaining=2, pair=pair, seed=0
                )
                TaskResponse.objects.create(task=task, generation=generation, position=0)
            created += 1
        return created
