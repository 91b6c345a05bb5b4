from tortoise import migrations
from tortoise.migrations import operations as ops  # noqa: F401

# Legacy Vietnamese encodings converted on extraction (issue 15).


class Migration(migrations.Migration):
    dependencies = [('docflow', '0020_ocr_text')]

    initial = False

    operations: list = []
