from tortoise import migrations
from tortoise.migrations import operations as ops
from tortoise import fields

# IMAP intake: the lease of a mailbox (one serve process reads it) and the UIDs read
# from it, written with their inbound rows (docflow/intake/imap.py).

class Migration(migrations.Migration):
    dependencies = [('docflow', '0011_sender_limits')]

    initial = False

    operations = [
        ops.CreateModel(
            name='ImapLease',
            fields=[
                ('mailbox', fields.CharField(primary_key=True, unique=True, db_index=True, max_length=500)),
                ('holder', fields.CharField(max_length=200)),
                ('lease_until', fields.DatetimeField(auto_now=False, auto_now_add=False)),
            ],
            options={'table': 'imap_leases', 'app': 'docflow', 'pk_attr': 'mailbox', 'table_description': 'Which serve process reads a mailbox, until when (renewed while it does).'},
            bases=['Model'],
        ),
        ops.CreateModel(
            name='ImapMessage',
            fields=[
                ('id', fields.IntField(generated=True, primary_key=True, unique=True, db_index=True)),
                ('mailbox', fields.CharField(max_length=500)),
                ('uidvalidity', fields.BigIntField()),
                ('uid', fields.BigIntField()),
                ('message_key', fields.CharField(db_index=True, max_length=64)),
                ('inbound_id', fields.IntField()),
                ('fetched_by', fields.CharField(max_length=200)),
                ('fetched_at', fields.DatetimeField(auto_now=False, auto_now_add=False)),
                ('marked_at', fields.DatetimeField(null=True, auto_now=False, auto_now_add=False)),
            ],
            options={'table': 'imap_messages', 'app': 'docflow', 'unique_together': (('mailbox', 'uidvalidity', 'uid'),), 'pk_attr': 'id', 'table_description': 'A message read from an IMAP mailbox, by the UID that names it there.'},
            bases=['Model'],
        ),
    ]
