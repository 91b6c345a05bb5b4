from tortoise import migrations
from tortoise.migrations import operations as ops
from tortoise.fields.base import OnDelete
from tortoise import fields

class Migration(migrations.Migration):
    dependencies = [('docflow', '0005_decision_code')]

    initial = False

    operations = [
        ops.AddField(
            model_name='Task',
            name='escalated_from',
            field=fields.ForeignKeyField('docflow.Task', source_field='escalated_from_id', null=True, db_constraint=True, to_field='id', related_name='escalations', on_delete=OnDelete.RESTRICT),
        ),
    ]
