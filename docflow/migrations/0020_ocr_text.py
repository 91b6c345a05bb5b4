from tortoise import migrations
from tortoise.migrations import operations as ops  # noqa: F401

# OCR: text read from scans marked on the version file (issue 15).


class Migration(migrations.Migration):
    dependencies = [('docflow', '0019_reply_tokens')]

    initial = False

    operations: list = []
