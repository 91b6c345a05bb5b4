from tortoise import migrations
from tortoise.migrations import operations as ops
from tortoise import fields

# Documents approved in a signing workflow wait here for the issuing job
# (docflow/archive/signed_issuing.py).


class Migration(migrations.Migration):
    dependencies = [('docflow', '0014_renditions')]

    initial = False

    operations = [
        ops.CreateModel(
            name='IssueJob',
            fields=[
                ('id', fields.IntField(generated=True, primary_key=True, unique=True, db_index=True)),
                ('document_id', fields.IntField(unique=True)),
                ('created_at', fields.DatetimeField(auto_now=False, auto_now_add=False)),
                ('attempts', fields.IntField(default=0)),
                ('next_attempt_at', fields.DatetimeField(auto_now=False, auto_now_add=False)),
                ('claimed_until', fields.DatetimeField(null=True, auto_now=False, auto_now_add=False)),
                ('error', fields.CharField(null=True, max_length=1000)),
                ('told', fields.CharField(null=True, max_length=1000)),
            ],
            options={'table': 'issue_jobs', 'app': 'docflow', 'pk_attr': 'id', 'table_description': 'A document approved in a signing workflow, waiting to be issued.'},
            bases=['Model'],
        ),
    ]
