from tortoise import migrations
from tortoise.migrations import operations as ops
from tortoise import fields

# Legacy Vietnamese encodings converted on extraction (issue 15): which old font encoding
# a file's text was typed in ("tcvn3", "vni", "tcvn3,vni"), None when none.


class Migration(migrations.Migration):
    dependencies = [('docflow', '0020_ocr_text')]

    initial = False

    operations = [
        ops.AddField(
            model_name='VersionFile',
            name='legacy_encoding',
            field=fields.CharField(null=True, max_length=20),
        ),
    ]
