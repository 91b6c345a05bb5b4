from tortoise import migrations
from tortoise.migrations import operations as ops
from tortoise.fields.base import OnDelete
from tortoise import fields

# Bounces of docflow's own mail (docflow/notify/bounces.py): the VERP token of each outbox
# row, and the failed deliveries a DSN (or the relay) reported.


# AddField does not create the index of a db_index field: made here, on both engines.
async def token_index(apps, schema_editor) -> None:
    await schema_editor.client.execute_script(
        "CREATE INDEX IF NOT EXISTS idx_outbox_bounce_token ON outbox (bounce_token)"
    )


async def drop_token_index(apps, schema_editor) -> None:
    await schema_editor.client.execute_script("DROP INDEX IF EXISTS idx_outbox_bounce_token")


class Migration(migrations.Migration):
    dependencies = [('docflow', '0009_search')]

    initial = False

    operations = [
        ops.CreateModel(
            name='DeliveryFailure',
            fields=[
                ('id', fields.IntField(generated=True, primary_key=True, unique=True, db_index=True)),
                ('outbox', fields.ForeignKeyField('docflow.OutboxMessage', source_field='outbox_id', db_constraint=True, to_field='id', related_name='failures', on_delete=OnDelete.RESTRICT)),
                ('recipient', fields.CharField(max_length=320)),
                ('document_code', fields.CharField(null=True, db_index=True, max_length=20)),
                ('kind', fields.CharField(max_length=40)),
                ('at', fields.DatetimeField(auto_now=False, auto_now_add=False)),
                ('status', fields.CharField(max_length=20)),
                ('diagnostic', fields.TextField(default='', unique=False)),
                ('source', fields.CharField(max_length=10)),
                ('inbound_id', fields.IntField(null=True)),
                ('author_told', fields.BooleanField(default=False)),
            ],
            options={'table': 'delivery_failures', 'app': 'docflow', 'unique_together': (('outbox', 'recipient'),), 'pk_attr': 'id', 'table_description': 'A recipient of a sent mail whose delivery failed for good (a DSN or a relay refusal).'},
            bases=['Model'],
        ),
        ops.AddField(
            model_name='OutboxMessage',
            name='bounce_token',
            field=fields.CharField(null=True, db_index=True, max_length=40),
        ),
        ops.RunPython(token_index, drop_token_index),
    ]
