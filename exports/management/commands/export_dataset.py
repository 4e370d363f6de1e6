"""python manage.py export_dataset: build an export synchronously, in this process, and print its path.

Every export parameter is a flag; omitted flags take the same defaults as the web form and the API. The
export is recorded like any other (an Export row, files in EXPORT_ROOT/<id>/), built by the same service.
"""

from django.contrib.auth import get_user_model
from django.core.exceptions import ValidationError
from django.core.management.base import BaseCommand, CommandError

from exports import adapters as A
from exports import pairs as P
from exports import services
from exports.models import Export


def _csv(value: str) -> list[str]:
    return [v.strip() for v in value.split(",") if v.strip()]


class Command(BaseCommand):
    help = "Build a dataset export (pairs, KTO, SFT, scores, card, manifest) and print the output directory."

    def add_arguments(self, parser):
        parser.add_argument("--name", default="CLI export", help="Export name (shown in the admin pages).")
        parser.add_argument("--user", help="Username recorded as the creator.")
        g = parser.add_argument_group("pairs")
        g.add_argument("--ranking-strategy", choices=[s.value for s in P.RankingStrategy])
        g.add_argument("--dialog-strategy", choices=[s.value for s in P.DialogStrategy])
        g.add_argument("--rating-threshold", type=float, help="Chosen mean must be at least this (paper: 4.5).")
        g.add_argument("--ranking-merge", choices=[m.value for m in P.RankingMerge])
        g.add_argument("--rating-merge", choices=[m.value for m in P.RatingMerge])
        g.add_argument("--keep-reject-hardness", type=_csv, help="Comma list: hard,soft (default: every pair).")
        g.add_argument("--hard-share", type=float, help="Target share of hard rejects among ranking pairs (0..1).")
        s = parser.add_argument_group("selection")
        s.add_argument("--task-types", type=_csv, help="Comma list of ranking,rating,dialog (default: all).")
        s.add_argument("--categories", type=_csv, help="Comma list of category keys (default: all).")
        s.add_argument("--sources", type=_csv, help="Comma list of prompt sources (default: all).")
        s.add_argument("--date-from", help="ISO date, inclusive (annotation date).")
        s.add_argument("--date-to", help="ISO date, inclusive.")
        s.add_argument("--annotators", type=_csv, help="Comma list of usernames or user ids (default: all).")
        s.add_argument("--review-status", choices=list(A.REVIEW_STATUSES), help="Default: approved.")
        s.add_argument("--no-gold", action="store_true", help="Leave gold items out.")
        f = parser.add_argument_group("files and split")
        f.add_argument("--outputs", type=_csv, help="Comma list of preference,kto,sft,scores (default: all).")
        f.add_argument("--no-parquet", action="store_true", help="JSONL only.")
        f.add_argument("--seed", type=int)
        f.add_argument("--eval-ratio", type=float)
        f.add_argument("--sft-cap", type=int, help="SFT rows per adapted source at most (default: 1000).")
        f.add_argument("--no-sft-cap", action="store_true", help="No SFT cap.")
        f.add_argument("--sft-capped-sources", type=_csv, help="Comma list of categories the SFT cap applies to.")
        f.add_argument("--batch-size", type=int, help="Parquet row-group size.")
        f.add_argument("--language", help="Dataset card language code (default: pl).")
        f.add_argument("--chunk-size", type=int, default=2000, help="Database page size (memory, not bytes).")

    def _annotator_ids(self, values: list[str]) -> list[int]:
        users = get_user_model().objects
        ids = []
        for value in values:
            user = users.filter(pk=int(value)).first() if value.isdigit() else users.filter(username=value).first()
            if user is None:
                raise CommandError(f"unknown annotator {value!r}")
            ids.append(user.pk)
        return ids

    def handle(self, *args, **options):
        flag_to_param = {
            "ranking_strategy": "ranking_strategy",
            "dialog_strategy": "dialog_strategy",
            "rating_threshold": "rating_threshold",
            "ranking_merge": "ranking_merge",
            "rating_merge": "rating_merge",
            "keep_reject_hardness": "keep_reject_hardness",
            "hard_share": "hard_share",
            "task_types": "task_types",
            "categories": "categories",
            "sources": "sources",
            "date_from": "date_from",
            "date_to": "date_to",
            "review_status": "review_status",
            "outputs": "outputs",
            "seed": "seed",
            "eval_ratio": "eval_ratio",
            "sft_capped_sources": "sft_capped_sources",
            "batch_size": "batch_size",
            "language": "language",
        }
        params = {key: options[flag] for flag, key in flag_to_param.items() if options.get(flag) is not None}
        if options.get("annotators"):
            params["annotators"] = self._annotator_ids(options["annotators"])
        if options["no_gold"]:
            params["include_gold"] = False
        if options["no_parquet"]:
            params["parquet"] = False
        if options.get("sft_cap") is not None:
            params["sft_cap_per_source"] = options["sft_cap"]
        if options["no_sft_cap"]:
            params["sft_cap_per_source"] = None
        user = None
        if options.get("user"):
            user = get_user_model().objects.filter(username=options["user"]).first()
            if user is None:
                raise CommandError(f"unknown user {options['user']!r}")
        try:
            export = services.export_create(user=user, name=options["name"], params=params, enqueue=False)
        except ValidationError as exc:
            raise CommandError("; ".join(exc.messages)) from exc
        export = services.export_build(export_id=export.pk, chunk_size=options["chunk_size"])
        if export.status != Export.Status.DONE:
            raise CommandError(f"export {export.pk} failed: {export.error}")
        self.stderr.write(f"export {export.pk}: {export.counters.get('rows', 0)} rows in {export.counters.get('files', 0)} files")
        self.stdout.write(export.directory)
