from tortoise import migrations
from tortoise.migrations import operations as ops
from tortoise import fields

class Migration(migrations.Migration):
    dependencies = [('docflow', '0004_delegation')]

    initial = False

    operations = [
        ops.AddField(
            model_name='Task',
            name='code_attempts',
            field=fields.IntField(default=0),
        ),
        ops.AddField(
            model_name='Task',
            name='code_hash',
            field=fields.CharField(null=True, max_length=64),
        ),
    ]
