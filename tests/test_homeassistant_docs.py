"""The Home Assistant examples in DOCS.md, run in a real Home Assistant: the dashboard card and the automations.

The YAML is taken from DOCS.md as it stands, so a broken example fails here.
"""

from __future__ import annotations

import re
from collections.abc import AsyncIterator, Iterator
from pathlib import Path
from typing import TYPE_CHECKING, Any

import pytest
import pytest_asyncio
import yaml

if TYPE_CHECKING:
    from ha_core import Scenario

pytest_plugins = ["ha_core"]
pytestmark = pytest.mark.asyncio(loop_scope="module")

DOCS = Path(__file__).parents[1] / "bmw_wallbox_addon" / "DOCS.md"
MAX_CURRENT_A = 32


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


@pytest_asyncio.fixture(scope="module", loop_scope="module")
async def automations(scenario: Scenario) -> AsyncIterator[dict[str, dict[str, Any]]]:
    """The automation examples of DOCS.md loaded into Home Assistant, by alias."""
    examples = yaml_blocks("Automation examples")
    for number, example in enumerate(examples):
        example["id"] = f"docs_example_{number}"
    automations_file = scenario.core.config_dir / "automations.yaml"
    automations_file.write_text(yaml.safe_dump(examples, sort_keys=False))
    await scenario.ha.call_service("automation", "reload", {})
    yield {example["alias"]: example for example in examples}
    automations_file.write_text("[]\n")
    await scenario.ha.call_service("automation", "reload", {})


async def test_docs_have_three_automation_examples() -> None:
    """DOCS.md shows a tariff window, a solar surplus and a house load automation."""
    aliases = [example["alias"] for example in yaml_blocks("Automation examples")]
    assert aliases == [
        "Wallbox: charge in the cheap tariff window",
        "Wallbox: charge from solar surplus",
        "Wallbox: pause at high house load",
    ]


async def test_automation_examples_load_without_errors(scenario: Scenario, automations: dict[str, Any]) -> None:
    """Home Assistant accepts every automation example (each becomes an automation entity that is on)."""
    for alias in automations:
        entity_id = "automation." + re.sub(r"[^a-z0-9]+", "_", alias.lower()).strip("_")
        await scenario.ha.wait_state(entity_id, lambda s: s["state"] == "on")


async def test_card_names_only_existing_entities(scenario: Scenario) -> None:
    """Every entity the dashboard card example names exists in Home Assistant."""
    await scenario.ready()
    (card,) = yaml_blocks("Dashboard card")
    entity_ids = {value for key, value in walk(card) if key in ("entity", "entity_id")}
    assert len(entity_ids) >= 8
    for entity_id in sorted(entity_ids):
        await scenario.ha.wait_state(entity_id, lambda s: s["state"] != "unavailable")


async def test_card_pause_button_pauses(scenario: Scenario) -> None:
    """The card's Pause button action reaches the wallbox as a 0 A profile."""
    await scenario.ready()
    (card,) = yaml_blocks("Dashboard card")
    buttons = [item for key, cards in walk(card) if key == "cards" for item in cards if item["type"] == "button"]
    action = next(button["tap_action"] for button in buttons if button["name"] == "Pause")
    domain, service = action["perform_action"].split(".")
    after = len(scenario.wallbox.received)
    await scenario.ha.call_service(domain, service, action["target"])
    await scenario.profile_with(0, after)


async def test_tariff_example_pauses_when_the_window_closes(scenario: Scenario, automations: dict[str, Any]) -> None:
    """The tariff automation pauses charging when the cheap window ends."""
    await scenario.ready()
    await scenario.ha.post_state("schedule.cheap_tariff", "on")
    after = len(scenario.wallbox.received)
    await scenario.ha.post_state("schedule.cheap_tariff", "off")
    await scenario.profile_with(0, after)


async def test_tariff_example_resumes_when_the_window_opens(scenario: Scenario, automations: dict[str, Any]) -> None:
    """The tariff automation resumes charging at the full limit when the cheap window starts."""
    await scenario.ready()
    await scenario.ha.post_state("schedule.cheap_tariff", "on")
    paused_from = len(scenario.wallbox.received)
    await scenario.ha.post_state("schedule.cheap_tariff", "off")
    await scenario.profile_with(0, paused_from)
    after = len(scenario.wallbox.received)
    await scenario.ha.post_state("schedule.cheap_tariff", "on")
    await scenario.profile_with(MAX_CURRENT_A, after)


async def test_solar_example_follows_the_surplus(scenario: Scenario, automations: dict[str, Any]) -> None:
    """The solar automation turns 4830 W of surplus into a 7 A limit (three phases, 690 W per A)."""
    await scenario.ready()
    after = len(scenario.wallbox.received)
    await scenario.ha.post_state("sensor.solar_surplus_power", "4830", {"unit_of_measurement": "W"})
    await scenario.profile_with(7, after)


async def test_solar_example_pauses_below_six_amps(scenario: Scenario, automations: dict[str, Any]) -> None:
    """The solar automation pauses when the surplus is worth less than 6 A."""
    await scenario.ready()
    await scenario.ha.post_state("sensor.solar_surplus_power", "9000", {"unit_of_measurement": "W"})
    after = len(scenario.wallbox.received)
    await scenario.ha.post_state("sensor.solar_surplus_power", "2000", {"unit_of_measurement": "W"})
    await scenario.profile_with(0, after)


async def test_house_load_example_pauses_above_the_threshold(scenario: Scenario, automations: dict[str, Any]) -> None:
    """The house load automation pauses when the house draws more than 11 kW."""
    await scenario.ready()
    await scenario.ha.post_state("sensor.house_power", "5000", {"unit_of_measurement": "W"})
    after = len(scenario.wallbox.received)
    await scenario.ha.post_state("sensor.house_power", "12000", {"unit_of_measurement": "W"})
    await scenario.profile_with(0, after)


async def test_house_load_example_resumes_below_the_threshold(scenario: Scenario, automations: dict[str, Any]) -> None:
    """The house load automation resumes when the house is back below 8 kW."""
    await scenario.ready()
    await scenario.ha.post_state("sensor.house_power", "5000", {"unit_of_measurement": "W"})
    paused_from = len(scenario.wallbox.received)
    await scenario.ha.post_state("sensor.house_power", "12000", {"unit_of_measurement": "W"})
    await scenario.profile_with(0, paused_from)
    after = len(scenario.wallbox.received)
    await scenario.ha.post_state("sensor.house_power", "7000", {"unit_of_measurement": "W"})
    await scenario.profile_with(MAX_CURRENT_A, after)
