from tortoise import migrations
from tortoise.migrations import operations as ops  # noqa: F401

# Decisions by reply: per-task reply addresses (issue 15).


class Migration(migrations.Migration):
    dependencies = [('docflow', '0018_page_indexes')]

    initial = False

    operations: list = []
