from tortoise import migrations
from tortoise.migrations import operations as ops
from tortoise.fields.base import OnDelete
from tortoise import fields

# The latest version of a document each person opened on its page while signed in:
# a decision link's page shows what changed since.


class Migration(migrations.Migration):
    dependencies = [('docflow', '0016_web_app')]

    initial = False

    operations = [
        ops.CreateModel(
            name='SeenVersion',
            fields=[
                ('id', fields.IntField(generated=True, primary_key=True, unique=True, db_index=True)),
                ('user', fields.ForeignKeyField('docflow.User', source_field='user_id', db_constraint=True, to_field='id', related_name='seen_versions', on_delete=OnDelete.CASCADE)),
                ('document', fields.ForeignKeyField('docflow.Document', source_field='document_id', db_constraint=True, to_field='id', related_name='seen_by', on_delete=OnDelete.RESTRICT)),
                ('version_number', fields.IntField()),
                ('seen_at', fields.DatetimeField(auto_now=False, auto_now_add=False)),
            ],
            options={'table': 'seen_versions', 'app': 'docflow', 'unique_together': (('user', 'document'),), 'pk_attr': 'id', 'table_description': 'The latest version of a document a person opened on its page while signed in.'},
            bases=['Model'],
        ),
    ]
