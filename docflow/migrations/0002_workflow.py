from tortoise import migrations
from tortoise.migrations import operations as ops
import functools
from json import dumps, loads
from tortoise.fields.base import OnDelete
from tortoise import fields

class Migration(migrations.Migration):
    dependencies = [('docflow', '0001_initial')]

    initial = False

    operations = [
        ops.CreateModel(
            name='AuditEvent',
            fields=[
                ('id', fields.IntField(generated=True, primary_key=True, unique=True, db_index=True)),
                ('document', fields.ForeignKeyField('docflow.Document', source_field='document_id', db_constraint=True, to_field='id', related_name='audit', on_delete=OnDelete.RESTRICT)),
                ('at', fields.DatetimeField(auto_now=False, auto_now_add=False)),
                ('actor', fields.CharField(max_length=320)),
                ('on_behalf_of', fields.CharField(null=True, max_length=320)),
                ('action', fields.CharField(max_length=40)),
                ('source', fields.CharField(max_length=10)),
                ('version_number', fields.IntField(null=True)),
                ('stage_key', fields.CharField(null=True, max_length=100)),
                ('detail', fields.JSONField(default=dict, encoder=functools.partial(dumps, separators=(',', ':')), decoder=loads)),
            ],
            options={'table': 'audit_events', 'app': 'docflow', 'pk_attr': 'id', 'table_description': 'Who did what to a document, when, from where (link, mail or CLI).'},
            bases=['Model'],
        ),
        ops.CreateModel(
            name='Task',
            fields=[
                ('id', fields.IntField(generated=True, primary_key=True, unique=True, db_index=True)),
                ('document', fields.ForeignKeyField('docflow.Document', source_field='document_id', db_constraint=True, to_field='id', related_name='tasks', on_delete=OnDelete.RESTRICT)),
                ('version_number', fields.IntField()),
                ('stage_index', fields.IntField()),
                ('stage_key', fields.CharField(max_length=100)),
                ('assignee', fields.ForeignKeyField('docflow.User', source_field='assignee_id', db_constraint=True, to_field='id', related_name='tasks', on_delete=OnDelete.RESTRICT)),
                ('state', fields.CharField(default='open', db_index=True, max_length=20)),
                ('created_at', fields.DatetimeField(auto_now=False, auto_now_add=False)),
                ('due_at', fields.DatetimeField(null=True, auto_now=False, auto_now_add=False)),
                ('decided_at', fields.DatetimeField(null=True, auto_now=False, auto_now_add=False)),
                ('comment', fields.TextField(default='', unique=False)),
            ],
            options={'table': 'tasks', 'app': 'docflow', 'pk_attr': 'id', 'table_description': 'The part of one assignee in one stage, for one version of a document.'},
            bases=['Model'],
        ),
        ops.CreateModel(
            name='LinkToken',
            fields=[
                ('id', fields.IntField(generated=True, primary_key=True, unique=True, db_index=True)),
                ('token_hash', fields.CharField(unique=True, max_length=64)),
                ('task', fields.ForeignKeyField('docflow.Task', source_field='task_id', db_constraint=True, to_field='id', related_name='links', on_delete=OnDelete.RESTRICT)),
                ('recipient', fields.ForeignKeyField('docflow.User', source_field='recipient_id', db_constraint=True, to_field='id', related_name='links', on_delete=OnDelete.RESTRICT)),
                ('actions', fields.CharField(max_length=60)),
                ('created_at', fields.DatetimeField(auto_now=False, auto_now_add=False)),
                ('expires_at', fields.DatetimeField(auto_now=False, auto_now_add=False)),
                ('used_at', fields.DatetimeField(null=True, auto_now=False, auto_now_add=False)),
            ],
            options={'table': 'link_tokens', 'app': 'docflow', 'pk_attr': 'id', 'table_description': 'A decision link: only the SHA-256 of the token is kept, never the token.'},
            bases=['Model'],
        ),
        ops.AddField(
            model_name='Document',
            name='stage_index',
            field=fields.IntField(null=True),
        ),
    ]
