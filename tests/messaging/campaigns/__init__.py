import pytest

# The workflow tests load their world as a plugin after importing its helpers: rewrite it first.
pytest.register_assert_rewrite("tests.messaging.campaigns.workflow_world")
