from tortoise import migrations
from tortoise.migrations import operations as ops
from tortoise.fields.base import OnDelete
from tortoise import fields

# The web app for everyone: one-time sign-in links by mail, and the audit of what
# happens outside any one document (sign-ins, admin actions).


class Migration(migrations.Migration):
    dependencies = [('docflow', '0015_issue_jobs')]

    initial = False

    operations = [
        ops.CreateModel(
            name='SignInLink',
            fields=[
                ('id', fields.IntField(generated=True, primary_key=True, unique=True, db_index=True)),
                ('token_hash', fields.CharField(unique=True, max_length=64)),
                ('user', fields.ForeignKeyField('docflow.User', source_field='user_id', db_constraint=True, to_field='id', related_name='signin_links', on_delete=OnDelete.CASCADE)),
                ('created_at', fields.DatetimeField(auto_now=False, auto_now_add=False)),
                ('expires_at', fields.DatetimeField(auto_now=False, auto_now_add=False)),
                ('used_at', fields.DatetimeField(null=True, auto_now=False, auto_now_add=False)),
            ],
            options={'table': 'signin_links', 'app': 'docflow', 'pk_attr': 'id', 'table_description': 'A one-time sign-in link mailed to a user.'},
            bases=['Model'],
        ),
        ops.CreateModel(
            name='AccessEvent',
            fields=[
                ('id', fields.IntField(generated=True, primary_key=True, unique=True, db_index=True)),
                ('at', fields.DatetimeField(db_index=True, auto_now=False, auto_now_add=False)),
                ('actor', fields.CharField(max_length=320)),
                ('action', fields.CharField(max_length=40)),
                ('source', fields.CharField(max_length=10)),
                ('client', fields.CharField(default='', max_length=100)),
                ('subject', fields.CharField(default='', max_length=320)),
                ('detail', fields.JSONField(default=dict)),
            ],
            options={'table': 'access_events', 'app': 'docflow', 'pk_attr': 'id', 'table_description': 'Who did what outside any one document.'},
            bases=['Model'],
        ),
    ]
