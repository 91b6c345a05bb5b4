from tortoise import migrations
from tortoise.migrations import operations as ops
from tortoise.fields.base import OnDelete
from tortoise import fields

class Migration(migrations.Migration):
    dependencies = [('docflow', '0003_reminders')]

    initial = False

    operations = [
        ops.CreateModel(
            name='Delegation',
            fields=[
                ('id', fields.IntField(generated=True, primary_key=True, unique=True, db_index=True)),
                ('user', fields.ForeignKeyField('docflow.User', source_field='user_id', db_constraint=True, to_field='id', related_name='delegations', on_delete=OnDelete.RESTRICT)),
                ('delegate', fields.ForeignKeyField('docflow.User', source_field='delegate_id', db_constraint=True, to_field='id', related_name='delegated_to_me', on_delete=OnDelete.RESTRICT)),
                ('capacity', fields.CharField(max_length=3)),
                ('starts_at', fields.DatetimeField(auto_now=False, auto_now_add=False)),
                ('ends_at', fields.DatetimeField(auto_now=False, auto_now_add=False)),
                ('created_at', fields.DatetimeField(auto_now=False, auto_now_add=False)),
            ],
            options={'table': 'delegations', 'app': 'docflow', 'pk_attr': 'id', 'table_description': 'While it runs, new tasks of `user` go to `delegate`, who decides in a capacity.'},
            bases=['Model'],
        ),
        ops.AddField(
            model_name='Task',
            name='capacity',
            field=fields.CharField(null=True, max_length=3),
        ),
        ops.AddField(
            model_name='Task',
            name='on_behalf_of',
            field=fields.ForeignKeyField('docflow.User', source_field='on_behalf_of_id', null=True, db_constraint=True, to_field='id', related_name='delegated_tasks', on_delete=OnDelete.RESTRICT),
        ),
    ]
