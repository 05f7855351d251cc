"""The Home Assistant examples in DOCS.md, run in a real Home Assistant: the dashboard card and the automations.

The YAML is taken from DOCS.md as it stands, so a broken example fails here.
Each test sets the states an example reacts to before it loads the examples,
so the one change it then makes is the only thing an automation answers.
"""

from __future__ import annotations

import re
from collections.abc import AsyncIterator, Awaitable, Callable, Iterator
from pathlib import Path
from typing import TYPE_CHECKING, Any

import pytest
import yaml

if TYPE_CHECKING:
    from ha_fixtures import Scenario

pytest_plugins = ["ha_fixtures"]

DOCS = Path(__file__).parents[1] / "bmw_wallbox_addon" / "DOCS.md"
MAX_CURRENT_A = 32
WATTS = {"unit_of_measurement": "W"}

LoadAutomations = Callable[[], Awaitable[dict[str, dict[str, Any]]]]


def yaml_blocks(heading: str) -> list[Any]:
    """The YAML code blocks under ``### <heading>`` in DOCS.md, parsed."""
    text = DOCS.read_text(encoding="utf-8")
    section = text.split(f"### {heading}\n", 1)[1].split("\n#", 1)[0]
    return [yaml.safe_load(block) for block in re.findall(r"```yaml\n(.*?)```", section, flags=re.S)]


def walk(node: Any) -> Iterator[tuple[str, Any]]:
    """Every (key, value) pair in nested mappings and lists."""
    if isinstance(node, dict):
        for key, value in node.items():
            yield key, value
            yield from walk(value)
    elif isinstance(node, list):
        for item in node:
            yield from walk(item)


def automation_entity(alias: str) -> str:
    """The entity id Home Assistant gives an automation with this alias."""
    return "automation." + re.sub(r"[^a-z0-9]+", "_", alias.lower()).strip("_")


@pytest.fixture
async def load_automations(charging: Scenario) -> AsyncIterator[LoadAutomations]:
    """Loads the automation examples of DOCS.md into Home Assistant when called; unloads them after the test."""
    automations_file = charging.core.automations_path

    async def load() -> dict[str, dict[str, Any]]:
        examples = yaml_blocks("Automation examples")
        for number, example in enumerate(examples):
            example["id"] = f"docs_example_{number}"
        automations_file.write_text(yaml.safe_dump(examples, sort_keys=False), encoding="utf-8")
        await charging.ha.call_service("automation", "reload", {})
        return {example["alias"]: example for example in examples}

    yield load
    if automations_file.read_text(encoding="utf-8") != "[]\n":
        automations_file.write_text("[]\n", encoding="utf-8")
        await charging.ha.call_service("automation", "reload", {})


async def test_docs_have_three_automation_examples() -> None:
    """DOCS.md shows a tariff window, a solar surplus and a house load automation."""
    aliases = [example["alias"] for example in yaml_blocks("Automation examples")]
    assert aliases == [
        "Wallbox: charge in the cheap tariff window",
        "Wallbox: charge from solar surplus",
        "Wallbox: pause at high house load",
    ]


async def test_automation_examples_load_without_errors(charging: Scenario, load_automations: LoadAutomations) -> None:
    """Home Assistant accepts every automation example: each becomes an automation entity that is on."""
    aliases = list(await load_automations())
    shown = {alias: await charging.ha.wait_state(automation_entity(alias), what="to be created") for alias in aliases}
    assert {alias: state["state"] for alias, state in shown.items()} == dict.fromkeys(aliases, "on")


async def test_card_names_only_existing_entities(charging: Scenario) -> None:
    """Every entity the dashboard card example names exists in Home Assistant and is available."""
    (card,) = yaml_blocks("Dashboard card")
    entity_ids = sorted({value for key, value in walk(card) if key in ("entity", "entity_id")})
    shown = {entity_id: await charging.ha.state(entity_id) for entity_id in entity_ids}
    assert len(entity_ids) >= 8
    assert [eid for eid, state in shown.items() if state is None or state["state"] == "unavailable"] == []


async def test_card_pause_button_pauses(charging: Scenario) -> None:
    """The card's Pause button action reaches the wallbox as a 0 A profile."""
    (card,) = yaml_blocks("Dashboard card")
    buttons = [item for key, cards in walk(card) if key == "cards" for item in cards if item["type"] == "button"]
    action = next(button["tap_action"] for button in buttons if button["name"] == "Pause")
    domain, service = action["perform_action"].split(".")
    after = charging.mark()
    await charging.ha.call_service(domain, service, action["target"])
    assert await charging.next_profile_limit(after) == 0


async def test_tariff_example_pauses_when_the_window_closes(
    charging: Scenario, load_automations: LoadAutomations
) -> None:
    """The tariff automation pauses charging when the cheap window ends."""
    await charging.ha.post_state("schedule.cheap_tariff", "on")
    await load_automations()
    after = charging.mark()
    await charging.ha.post_state("schedule.cheap_tariff", "off")
    assert await charging.next_profile_limit(after) == 0


async def test_tariff_example_resumes_when_the_window_opens(
    charging: Scenario, load_automations: LoadAutomations
) -> None:
    """The tariff automation resumes charging at the full limit when the cheap window starts."""
    await charging.ha.post_state("schedule.cheap_tariff", "off")
    await charging.api_post("/pause")
    await load_automations()
    after = charging.mark()
    await charging.ha.post_state("schedule.cheap_tariff", "on")
    assert await charging.next_profile_limit(after) == MAX_CURRENT_A


async def test_solar_example_follows_the_surplus(charging: Scenario, load_automations: LoadAutomations) -> None:
    """The solar automation turns 4830 W of surplus into a 7 A limit (three phases, 690 W per A)."""
    await load_automations()
    after = charging.mark()
    await charging.ha.post_state("sensor.solar_surplus_power", "4830", WATTS)
    assert await charging.next_profile_limit(after) == 7


async def test_solar_example_pauses_below_six_amps(charging: Scenario, load_automations: LoadAutomations) -> None:
    """The solar automation pauses when the surplus is worth less than 6 A."""
    await charging.ha.post_state("sensor.solar_surplus_power", "9000", WATTS)
    await load_automations()
    after = charging.mark()
    await charging.ha.post_state("sensor.solar_surplus_power", "2000", WATTS)
    assert await charging.next_profile_limit(after) == 0


async def test_house_load_example_pauses_above_the_threshold(
    charging: Scenario, load_automations: LoadAutomations
) -> None:
    """The house load automation pauses when the house draws more than 11 kW."""
    await charging.ha.post_state("sensor.house_power", "5000", WATTS)
    await load_automations()
    after = charging.mark()
    await charging.ha.post_state("sensor.house_power", "12000", WATTS)
    assert await charging.next_profile_limit(after) == 0


async def test_house_load_example_resumes_below_the_threshold(
    charging: Scenario, load_automations: LoadAutomations
) -> None:
    """The house load automation resumes when the house is back below 8 kW."""
    await charging.ha.post_state("sensor.house_power", "12000", WATTS)
    await charging.api_post("/pause")
    await load_automations()
    after = charging.mark()
    await charging.ha.post_state("sensor.house_power", "7000", WATTS)
    assert await charging.next_profile_limit(after) == MAX_CURRENT_A
