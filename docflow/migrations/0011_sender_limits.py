from tortoise import migrations
from tortoise.migrations import operations as ops
from tortoise import fields
from tortoise.indexes import Index

# The per-sender rate limit counts a sender's recent messages (intake.rate_limit):
# counted_at marks a message counted against its sender, the index finds them.


class Migration(migrations.Migration):
    dependencies = [('docflow', '0010_bounces')]

    initial = False

    operations = [
        ops.AddField(
            model_name='InboundMessage',
            name='counted_at',
            field=fields.DatetimeField(null=True, auto_now=False, auto_now_add=False),
        ),
        ops.AddIndex(
            model_name='InboundMessage',
            index=Index(fields=['from_addr', 'counted_at']),
        ),
    ]
