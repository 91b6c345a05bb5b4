from tortoise import migrations
from tortoise.migrations import operations as ops
from tortoise.fields.base import OnDelete
from tortoise import fields

# Decisions by reply: per-task reply addresses (issue 15). A task mail's Reply-To is
# LOCAL+t-TOKEN@DOMAIN of the intake address; the token's hash is kept, bound to the task
# and its recipient, and every reply received there is recorded once (by sender and
# Message-ID), so that a reply never acts twice.


class Migration(migrations.Migration):
    dependencies = [('docflow', '0018_page_indexes')]

    initial = False

    operations = [
        ops.CreateModel(
            name='ReplyToken',
            fields=[
                ('id', fields.IntField(generated=True, primary_key=True, unique=True, db_index=True)),
                ('token_hash', fields.CharField(unique=True, max_length=64)),
                ('task', fields.ForeignKeyField('docflow.Task', source_field='task_id', db_constraint=True, to_field='id', related_name='reply_tokens', on_delete=OnDelete.RESTRICT)),
                ('recipient', fields.ForeignKeyField('docflow.User', source_field='recipient_id', db_constraint=True, to_field='id', related_name='reply_tokens', on_delete=OnDelete.RESTRICT)),
                ('created_at', fields.DatetimeField(auto_now=False, auto_now_add=False)),
            ],
            options={'table': 'reply_tokens', 'app': 'docflow', 'pk_attr': 'id', 'table_description': "A task mail's reply address: only the SHA-256 of the token is kept."},
            bases=['Model'],
        ),
        ops.CreateModel(
            name='TaskReply',
            fields=[
                ('id', fields.IntField(generated=True, primary_key=True, unique=True, db_index=True)),
                ('source_key', fields.CharField(unique=True, max_length=64)),
                ('reply_token', fields.ForeignKeyField('docflow.ReplyToken', source_field='reply_token_id', db_constraint=True, to_field='id', related_name='replies', on_delete=OnDelete.RESTRICT)),
                ('inbound_id', fields.IntField(null=True)),
                ('from_addr', fields.CharField(max_length=320)),
                ('outcome', fields.CharField(max_length=30)),
                ('answered', fields.BooleanField(default=False)),
                ('received_at', fields.DatetimeField(auto_now=False, auto_now_add=False)),
            ],
            options={'table': 'task_replies', 'app': 'docflow', 'pk_attr': 'id', 'table_description': 'One reply received at a reply address, once per message: what came of it.'},
            bases=['Model'],
        ),
    ]
