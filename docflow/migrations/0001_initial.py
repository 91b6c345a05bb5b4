import functools
from json import dumps, loads

from tortoise import fields, migrations
from tortoise.fields.base import OnDelete
from tortoise.migrations import operations as ops


class Migration(migrations.Migration):
    initial = True

    operations = [
        ops.CreateModel(
            name='CodeCounter',
            fields=[
                ('year', fields.IntField(primary_key=True, unique=True, db_index=True)),
                ('last_number', fields.IntField(default=0)),
            ],
            options={'table': 'code_counters', 'app': 'docflow', 'pk_attr': 'year', 'table_description': 'Last tracking-code number handed out in a year (locked by an UPDATE while allocating).'},
            bases=['Model'],
        ),
        ops.CreateModel(
            name='InboundMessage',
            fields=[
                ('id', fields.IntField(generated=True, primary_key=True, unique=True, db_index=True)),
                ('spool_name', fields.CharField(unique=True, max_length=200)),
                ('sha256', fields.CharField(max_length=64)),
                ('size', fields.BigIntField()),
                ('source', fields.CharField(max_length=10)),
                ('mail_from', fields.CharField(default='', max_length=998)),
                ('rcpt_tos', fields.JSONField(default=list, encoder=functools.partial(dumps, separators=(',', ':')), decoder=loads)),
                ('received_at', fields.DatetimeField(auto_now=False, auto_now_add=False)),
                ('state', fields.CharField(default='pending', db_index=True, max_length=20)),
                ('attempts', fields.IntField(default=0)),
                ('next_attempt_at', fields.DatetimeField(null=True, auto_now=False, auto_now_add=False)),
                ('last_error', fields.TextField(null=True, unique=False)),
                ('message_id', fields.CharField(default='', max_length=998)),
                ('from_addr', fields.CharField(default='', max_length=320)),
                ('subject', fields.CharField(default='', max_length=1000)),
                ('reason', fields.CharField(null=True, max_length=50)),
                ('detail', fields.TextField(null=True, unique=False)),
                ('document_code', fields.CharField(null=True, max_length=20)),
                ('version_number', fields.IntField(null=True)),
                ('processed_at', fields.DatetimeField(null=True, auto_now=False, auto_now_add=False)),
            ],
            options={'table': 'inbound_messages', 'app': 'docflow', 'pk_attr': 'id', 'table_description': 'One received message, whose raw bytes stay in the spool file it names.'},
            bases=['Model'],
        ),
        ops.CreateModel(
            name='OutboxMessage',
            fields=[
                ('id', fields.IntField(generated=True, primary_key=True, unique=True, db_index=True)),
                ('created_at', fields.DatetimeField(auto_now=False, auto_now_add=False)),
                ('kind', fields.CharField(max_length=40)),
                ('document_code', fields.CharField(null=True, max_length=20)),
                ('mail_from', fields.CharField(max_length=320)),
                ('rcpt_to', fields.JSONField(encoder=functools.partial(dumps, separators=(',', ':')), decoder=loads)),
                ('message_id', fields.CharField(unique=True, max_length=255)),
                ('subject', fields.CharField(max_length=1000)),
                ('content', fields.BinaryField()),
                ('state', fields.CharField(default='queued', db_index=True, max_length=10)),
                ('attempts', fields.IntField(default=0)),
                ('next_attempt_at', fields.DatetimeField(auto_now=False, auto_now_add=False)),
                ('lease_until', fields.DatetimeField(null=True, auto_now=False, auto_now_add=False)),
                ('last_error', fields.TextField(null=True, unique=False)),
                ('sent_at', fields.DatetimeField(null=True, auto_now=False, auto_now_add=False)),
            ],
            options={'table': 'outbox', 'app': 'docflow', 'pk_attr': 'id', 'table_description': 'A ready-to-send message and its delivery state.'},
            bases=['Model'],
        ),
        ops.CreateModel(
            name='User',
            fields=[
                ('id', fields.IntField(generated=True, primary_key=True, unique=True, db_index=True)),
                ('email', fields.CharField(unique=True, max_length=320)),
                ('name', fields.CharField(max_length=200)),
                ('roles', fields.JSONField(default=list, encoder=functools.partial(dumps, separators=(',', ':')), decoder=loads)),
                ('language', fields.CharField(default='vi', max_length=2)),
                ('active', fields.BooleanField(default=True)),
                ('created_at', fields.DatetimeField(auto_now=False, auto_now_add=False)),
            ],
            options={'table': 'users', 'app': 'docflow', 'pk_attr': 'id', 'table_description': 'A person, identified by e-mail address (stored lowercased).'},
            bases=['Model'],
        ),
        ops.CreateModel(
            name='Document',
            fields=[
                ('id', fields.IntField(generated=True, primary_key=True, unique=True, db_index=True)),
                ('code', fields.CharField(unique=True, max_length=20)),
                ('title', fields.CharField(max_length=1000)),
                ('author', fields.ForeignKeyField('docflow.User', source_field='author_id', db_constraint=True, to_field='id', related_name='documents', on_delete=OnDelete.RESTRICT)),
                ('workflow', fields.CharField(max_length=100)),
                ('status', fields.CharField(default='received', max_length=30)),
                ('created_at', fields.DatetimeField(auto_now=False, auto_now_add=False)),
                ('updated_at', fields.DatetimeField(auto_now=False, auto_now_add=False)),
            ],
            options={'table': 'documents', 'app': 'docflow', 'pk_attr': 'id', 'table_description': 'A piece of work tracked by code `DF-YYYY-NNNNNN`, authored by one person.'},
            bases=['Model'],
        ),
        ops.CreateModel(
            name='ThreadMessage',
            fields=[
                ('id', fields.IntField(generated=True, primary_key=True, unique=True, db_index=True)),
                ('document', fields.ForeignKeyField('docflow.Document', source_field='document_id', db_constraint=True, to_field='id', related_name='thread', on_delete=OnDelete.RESTRICT)),
                ('message_id', fields.CharField(db_index=True, max_length=255)),
                ('direction', fields.CharField(max_length=3)),
            ],
            options={'table': 'thread_messages', 'app': 'docflow', 'pk_attr': 'id', 'table_description': 'A Message-ID that belongs to the thread of a document (received or sent by docflow).'},
            bases=['Model'],
        ),
        ops.CreateModel(
            name='Version',
            fields=[
                ('id', fields.IntField(generated=True, primary_key=True, unique=True, db_index=True)),
                ('document', fields.ForeignKeyField('docflow.Document', source_field='document_id', db_constraint=True, to_field='id', related_name='versions', on_delete=OnDelete.RESTRICT)),
                ('number', fields.IntField()),
                ('created_at', fields.DatetimeField(auto_now=False, auto_now_add=False)),
                ('message_id', fields.CharField(default='', max_length=998)),
                ('source_key', fields.CharField(unique=True, max_length=64)),
                ('inbound_id', fields.IntField(null=True)),
                ('subject', fields.CharField(default='', max_length=1000)),
                ('body_text', fields.TextField(default='', unique=False)),
            ],
            options={'table': 'versions', 'app': 'docflow', 'unique_together': (('document', 'number'),), 'pk_attr': 'id', 'table_description': 'One draft as it arrived: never changed after it is written.'},
            bases=['Model'],
        ),
        ops.CreateModel(
            name='VersionFile',
            fields=[
                ('id', fields.IntField(generated=True, primary_key=True, unique=True, db_index=True)),
                ('version', fields.ForeignKeyField('docflow.Version', source_field='version_id', db_constraint=True, to_field='id', related_name='files', on_delete=OnDelete.RESTRICT)),
                ('position', fields.IntField()),
                ('name', fields.CharField(max_length=500)),
                ('role', fields.CharField(max_length=10)),
                ('mime', fields.CharField(max_length=200)),
                ('size', fields.BigIntField()),
                ('sha256', fields.CharField(db_index=True, max_length=64)),
                ('text', fields.TextField(null=True, unique=False)),
                ('extract_error', fields.CharField(null=True, max_length=500)),
            ],
            options={'table': 'version_files', 'app': 'docflow', 'unique_together': (('version', 'position'),), 'pk_attr': 'id', 'table_description': 'A file of a version: the main draft is position 0, annexes follow.'},
            bases=['Model'],
        ),
    ]
