"""Airflow 3 DAG files that branch, short-circuit, set up and tear down, and filter mapped
outputs: the shapes of Airflow's ``example_branch_operator``,
``example_branch_operator_decorator``, ``example_short_circuit_decorator``,
``example_short_circuit_operator`` and ``example_setup_teardown_taskflow`` (written for these
tests; lambdas are module-level functions, since a worker imports the callable by name).
"""

EXAMPLE_BRANCH_OPERATOR = """
import pendulum

from airflow.providers.standard.operators.empty import EmptyOperator
from airflow.providers.standard.operators.python import BranchPythonOperator
from airflow.sdk import DAG, Label
from airflow.utils.trigger_rule import TriggerRule

OPTIONS = ["branch_a", "branch_b", "branch_c", "branch_d"]


def choose():
    return OPTIONS[1]


with DAG(
    dag_id="example_branch_operator",
    start_date=pendulum.datetime(2021, 1, 1, tz="UTC"),
    catchup=False,
    schedule="@daily",
    tags=["example", "example2"],
) as dag:
    run_this_first = EmptyOperator(task_id="run_this_first")
    branching = BranchPythonOperator(task_id="branching", python_callable=choose)
    run_this_first >> branching

    join = EmptyOperator(task_id="join", trigger_rule=TriggerRule.NONE_FAILED_MIN_ONE_SUCCESS)
    for option in OPTIONS:
        t = EmptyOperator(task_id=option)
        empty_follow = EmptyOperator(task_id="follow_" + option)
        # Label is optional here, but it can help identify more complex branches
        branching >> Label(option) >> t >> empty_follow >> join
"""

EXAMPLE_BRANCH_DECORATOR = """
import pendulum

from airflow.providers.standard.operators.empty import EmptyOperator
from airflow.sdk import Label, TaskGroup, dag, task
from airflow.utils.trigger_rule import TriggerRule


@dag(
    start_date=pendulum.datetime(2021, 1, 1, tz="UTC"),
    catchup=False,
    schedule=None,
    tags=["example"],
)
def example_branch_python_operator_decorator():
    run_this_first = EmptyOperator(task_id="run_this_first")
    options = ["a", "b", "c", "d"]

    @task.branch(task_id="branching")
    def random_choice(choices: list[str]) -> list[str]:
        return [f"branch_{choices[0]}", f"branch_{choices[3]}", "cleanup_group"]

    random_choice_instance = random_choice(choices=options)
    run_this_first >> random_choice_instance

    join = EmptyOperator(task_id="join", trigger_rule=TriggerRule.NONE_FAILED_MIN_ONE_SUCCESS)
    for option in options:

        @task(task_id=f"branch_{option}")
        def some_task():
            return "doing something in Python"

        t = some_task()
        empty = EmptyOperator(task_id=f"follow_branch_{option}")
        random_choice_instance >> Label(option) >> t >> empty >> join

    with TaskGroup("cleanup_group") as cleanup_group:
        EmptyOperator(task_id="first") >> EmptyOperator(task_id="second")
    with TaskGroup("unused_group") as unused_group:
        EmptyOperator(task_id="only")
    random_choice_instance >> [cleanup_group, unused_group]

    @task.branch
    def choose_nothing():
        return None

    nothing = choose_nothing()
    join >> nothing >> EmptyOperator(task_id="never")


example_branch_python_operator_decorator()
"""

EXAMPLE_SHORT_CIRCUIT_DECORATOR = """
import pendulum

from airflow.providers.standard.operators.empty import EmptyOperator
from airflow.sdk import chain, dag, task
from airflow.utils.trigger_rule import TriggerRule


@dag(start_date=pendulum.datetime(2021, 1, 1, tz="UTC"), catchup=False, tags=["example"])
def example_short_circuit_decorator():
    @task.short_circuit()
    def check_condition(condition):
        return condition

    ds_true = [EmptyOperator(task_id=f"true_{i}") for i in [1, 2]]
    ds_false = [EmptyOperator(task_id=f"false_{i}") for i in [1, 2]]

    condition_is_true = check_condition.override(task_id="condition_is_true")(condition=True)
    condition_is_false = check_condition.override(task_id="condition_is_false")(condition=False)

    chain(condition_is_true, *ds_true)
    chain(condition_is_false, *ds_false)

    [task_1, task_2, task_3, task_4, task_5, task_6] = [
        EmptyOperator(task_id=f"task_{i}") for i in range(1, 7)
    ]

    task_7 = EmptyOperator(task_id="task_7", trigger_rule=TriggerRule.ALL_DONE)

    short_circuit = check_condition.override(
        task_id="short_circuit", ignore_downstream_trigger_rules=False
    )(condition=False)

    chain(task_1, [task_2, short_circuit], [task_3, task_4], [task_5, task_6], task_7)


example_dag = example_short_circuit_decorator()
"""

EXAMPLE_SHORT_CIRCUIT_OPERATOR = """
import pendulum

from airflow.providers.standard.operators.empty import EmptyOperator
from airflow.providers.standard.operators.python import ShortCircuitOperator
from airflow.sdk import DAG, chain


def is_true():
    return True


def is_false():
    return False


with DAG(
    dag_id="example_short_circuit_operator",
    start_date=pendulum.datetime(2021, 1, 1, tz="UTC"),
    catchup=False,
    tags=["example"],
):
    cond_true = ShortCircuitOperator(task_id="condition_is_True", python_callable=is_true)
    cond_false = ShortCircuitOperator(task_id="condition_is_False", python_callable=is_false)

    ds_true = [EmptyOperator(task_id=f"true_{i}") for i in [1, 2]]
    ds_false = [EmptyOperator(task_id=f"false_{i}") for i in [1, 2]]

    chain(cond_true, *ds_true)
    chain(cond_false, *ds_false)

    # everything after a falsy condition is skipped, but not a teardown
    prepare = EmptyOperator(task_id="prepare")
    prepare >> cond_false
    cleanup = EmptyOperator(task_id="cleanup").as_teardown(setups=prepare)
    ds_false[1] >> cleanup
"""

EXAMPLE_SETUP_TEARDOWN_TASKFLOW = """
import pendulum

from airflow.sdk import dag, setup, task, task_group, teardown


@dag(start_date=pendulum.datetime(2021, 1, 1, tz="UTC"), catchup=False, tags=["example"])
def example_setup_teardown_taskflow():
    @task
    def my_first_task():
        print("Hello 1")

    @task
    def my_second_task():
        print("Hello 2")

    @task
    def my_third_task():
        print("Hello 3")

    # you can set setup / teardown relationships with the `as_teardown` method.
    task_1 = my_first_task()
    task_2 = my_second_task()
    task_3 = my_third_task()
    task_1 >> task_2 >> task_3.as_teardown(setups=task_1)

    # it's also possible to use a decorator to mark a task as setup or
    # teardown task at definition time.
    @setup
    def outer_setup():
        print("I am outer_setup")
        return "some cluster id"

    @teardown
    def outer_teardown(cluster_id):
        print("I am outer_teardown")
        return f"Tearing down cluster: {cluster_id}"

    @task
    def outer_work():
        print("I am just a normal task")

    @task_group
    def section_1():
        @setup
        def inner_setup():
            print("I set up")
            return "some_cluster_id"

        @task
        def inner_work(cluster_id):
            print(f"doing some work with {cluster_id=}")

        @teardown
        def inner_teardown(cluster_id):
            print("I tear down")
            return f"Tearing down cluster: {cluster_id}"

        # this passes the return value of `inner_setup` to both `inner_work` and `inner_teardown`
        inner_setup_task = inner_setup()
        inner_work(inner_setup_task) >> inner_teardown(inner_setup_task)

    # s and t are linked directly, and outer_work runs in between
    with outer_teardown(outer_setup()):
        outer_work()

        # and let's put section 1 inside the outer setup and teardown tasks
        section_1()


example_setup_teardown_taskflow()
"""

SETUP_TEARDOWN_FAILURES = """
import pendulum

from airflow.exceptions import AirflowFailException
from airflow.sdk import dag, setup, task, teardown


@setup
def create_cluster():
    return "cluster-1"


@task
def work(cluster):
    raise AirflowFailException(f"the work on {cluster} failed")


@teardown
def delete_cluster(cluster):
    return f"deleted {cluster}"


@task
def fine(cluster):
    return f"used {cluster}"


@teardown
def broken_delete(cluster):
    raise RuntimeError(f"could not delete {cluster}")


@teardown(on_failure_fail_dagrun=True)
def strict_delete(cluster):
    raise RuntimeError(f"could not delete {cluster}")


@setup
def no_cluster():
    raise RuntimeError("no capacity")


@dag(schedule=None, start_date=pendulum.datetime(2021, 1, 1, tz="UTC"))
def failed_work():
    cluster = create_cluster()
    work(cluster) >> delete_cluster(cluster)


@dag(schedule=None, start_date=pendulum.datetime(2021, 1, 1, tz="UTC"))
def failed_teardown():
    cluster = create_cluster()
    fine(cluster) >> broken_delete(cluster)


@dag(schedule=None, start_date=pendulum.datetime(2021, 1, 1, tz="UTC"))
def failed_strict_teardown():
    cluster = create_cluster()
    fine(cluster) >> strict_delete(cluster)


@dag(schedule=None, start_date=pendulum.datetime(2021, 1, 1, tz="UTC"))
def failed_setup():
    cluster = no_cluster()
    fine(cluster) >> delete_cluster(cluster)


failed_work()
failed_teardown()
failed_strict_teardown()
failed_setup()
"""

MAPPED_FILTERING = """
import pendulum

from airflow.exceptions import AirflowSkipException
from airflow.sdk import dag, task


@task
def numbers():
    return [1, 2, 3, 4, 5]


@task
def odd_or_none(n):
    # "a mapped task can remove any elements from being passed on to its downstream tasks by
    # returning None" (Airflow's dynamic task mapping docs)
    return n if n % 2 else None


@task
def odd_or_skip(n):
    if n % 2 == 0:
        raise AirflowSkipException(f"{n} is even")
    return n


@task
def double(n):
    return 2 * n


@task(trigger_rule="all_done")
def collect(values):
    return list(values)


@dag(schedule=None, start_date=pendulum.datetime(2021, 1, 1, tz="UTC"))
def mapped_filtering():
    kept = odd_or_none.expand(n=numbers())
    collect.override(task_id="collect_none")(kept)
    doubled = double.expand(n=kept)
    collect.override(task_id="collect_doubled")(doubled)
    skipped = odd_or_skip.expand(n=numbers())
    collect.override(task_id="collect_skipped")(skipped)


mapped_filtering()
"""

CUSTOM_OPERATOR = """
import pendulum

from airflow.sdk import DAG, BaseOperator, task


class HelloOperator(BaseOperator):
    # the shape of Airflow's "Creating a custom Operator" how-to
    def __init__(self, name: str, punctuation: str = "!", **kwargs) -> None:
        super().__init__(**kwargs)
        self.name = name
        self.punctuation = punctuation

    def execute(self, context):
        message = f"Hello {self.name}{self.punctuation} ({self.task_id} of {context['dag_id']})"
        print(message)
        return message


@task
def who():
    return "world"


@task
def shout(message):
    return message.upper()


@task
def names():
    return ["ada", "bob", "cy"]


@task
def greetings(messages):
    return list(messages)


with DAG(
    "custom_operator",
    schedule=None,
    start_date=pendulum.datetime(2021, 1, 1, tz="UTC"),
    default_args={"retries": 0},
):
    hello = HelloOperator(task_id="sample_task", name="foo_bar")
    from_upstream = HelloOperator(task_id="from_upstream", name=who(), punctuation="?")
    hello >> from_upstream
    shout(hello.output)
    mapped = HelloOperator.partial(task_id="mapped_hello", punctuation=".").expand(name=names())
    greetings(mapped.output)
"""
