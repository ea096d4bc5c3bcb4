# ruff: noqa: E501  (requests kept verbatim, one per line)
"""Requests for the sixth fresh tool-routing set, written 2026-12-04 (session 19) by a helper that saw only fresh6_tools.py."""
from typing import Any

HAIR_SALON_CASES: list[tuple[str, str | None, dict[str, Any]]] = [
    # book_hair_appointment
    (
        "yeah hi so my mum's hair is a proper state before the wedding could she get in with jess on saturday",
        "book_hair_appointment",
        {"stylist_name": "jess", "day": "saturday"},
    ),
    (
        "um can i get put down with marco for thursday please",
        "book_hair_appointment",
        {"stylist_name": "marco", "day": "thursday"},
    ),
    (
        "hiya can you pop me in with priya for a fringe trim",
        "book_hair_appointment",
        {"stylist_name": "priya"},
    ),
    (
        "i'd like to i'd like to come and see danny uh wednesday if that's alright just a tidy up",
        "book_hair_appointment",
        {"stylist_name": "danny", "day": "wednesday"},
    ),
    # cancel_hair_appointment
    (
        "hi yeah i won't be able to make it in after all the reference is hb4471",
        "cancel_hair_appointment",
        {"booking_reference": "hb4471"},
    ),
    (
        "um so something's come up and i need to call off my slot it's uh kt902",
        "cancel_hair_appointment",
        {"booking_reference": "kt902"},
    ),
    (
        "yeah my daughter's off sick so she won't be coming in for her cut you can scrap it",
        "cancel_hair_appointment",
        {},
    ),
    # reschedule_hair_appointment
    (
        "can i shift my booking to monday instead reference is ab3310",
        "reschedule_hair_appointment",
        {"booking_reference": "ab3310", "new_day": "monday"},
    ),
    (
        "hi um i've got a thing at work that day so could we push it to saturday my code's sl207",
        "reschedule_hair_appointment",
        {"booking_reference": "sl207", "new_day": "saturday"},
    ),
    (
        "yeah so uh rx55 that's mine can it be tuesday rather than thursday",
        "reschedule_hair_appointment",
        {"booking_reference": "rx55", "new_day": "tuesday"},
    ),
    # check_stylist_availability
    (
        "is chloe about on wednesday at all or is she chocka",
        "check_stylist_availability",
        {"stylist_name": "chloe", "day": "wednesday"},
    ),
    (
        "does um does marco have any gaps on sunday",
        "check_stylist_availability",
        {"stylist_name": "marco", "day": "sunday"},
    ),
    (
        "just wondering if ellie has any space left friday before i get my hopes up",
        "check_stylist_availability",
        {"stylist_name": "ellie", "day": "friday"},
    ),
    (
        "has tom got room for anyone tomorrow",
        "check_stylist_availability",
        {"stylist_name": "tom"},
    ),
    # get_treatment_price
    (
        "how much do you lot charge for balayage roughly",
        "get_treatment_price",
        {"treatment": "balayage"},
    ),
    (
        "uh yeah what's the damage for a blow dry",
        "get_treatment_price",
        {"treatment": "blow dry"},
    ),
    (
        "i'm thinking of going red all over like how much would a full colour set me back",
        "get_treatment_price",
        {"treatment": "full colour"},
    ),
    # buy_gift_voucher
    (
        "i want to get my sister something for her birthday like 50 pounds she can spend with you her name's grace",
        "buy_gift_voucher",
        {"amount": "50", "recipient_name": "grace"},
    ),
    (
        "can i sort out one of those gift card things for my nan margaret",
        "buy_gift_voucher",
        {"recipient_name": "margaret"},
    ),
    (
        "yeah hi um a 30 pound one for aisha please as a present",
        "buy_gift_voucher",
        {"amount": "30", "recipient_name": "aisha"},
    ),
    # no tool: small talk / call handling
    (
        "sorry you cut out there what did you say",
        None,
        {},
    ),
    (
        "am i talking to a robot or an actual person",
        None,
        {},
    ),
    # no tool: close to the business but not covered
    (
        "is there anywhere to park near you or do i have to use the multistorey",
        None,
        {},
    ),
    (
        "do you sell that purple shampoo you used on me last time",
        None,
        {},
    ),
    (
        "i wasn't happy with how the girl spoke to me on saturday and i want to make a complaint",
        None,
        {},
    ),
    (
        "are you taking on any apprentice stylists my son's just finished college",
        None,
        {},
    ),
]

WASTE_SERVICE_CASES: list[tuple[str, str | None, dict[str, Any]]] = [
    # get_bin_collection_day
    (
        "when do they come for the recycling round here i'm ls6 2qt",
        "get_bin_collection_day",
        {"postcode": "ls6 2qt", "bin_type": "recycling"},
    ),
    (
        "uh what day's the garden waste go out for m14 5rb",
        "get_bin_collection_day",
        {"postcode": "m14 5rb", "bin_type": "garden"},
    ),
    (
        "i've just moved in and i've no idea when to put the general rubbish out",
        "get_bin_collection_day",
        {"bin_type": "general"},
    ),
    (
        "yeah hi which day does my food caddy get emptied postcode is bs3 1pn",
        "get_bin_collection_day",
        {"postcode": "bs3 1pn", "bin_type": "food"},
    ),
    # report_missed_bin_collection
    (
        "they've gone straight past my house again and left the recycling full it's s11 8yh",
        "report_missed_bin_collection",
        {"postcode": "s11 8yh", "bin_type": "recycling"},
    ),
    (
        "um my food waste wasn't taken this week whole street got done except us",
        "report_missed_bin_collection",
        {"bin_type": "food"},
    ),
    (
        "the lorry never turned up for the general waste yesterday postcode nr2 4ap",
        "report_missed_bin_collection",
        {"postcode": "nr2 4ap", "bin_type": "general"},
    ),
    # order_replacement_bin
    (
        "someone's nicked my garden bin i'm on le2 7dg can i get another one",
        "order_replacement_bin",
        {"postcode": "le2 7dg", "bin_type": "garden"},
    ),
    (
        "the bin men dropped my recycling bin in the back of the wagon and now it's cracked right down the side",
        "order_replacement_bin",
        {"bin_type": "recycling"},
    ),
    (
        "uh hi my food caddy blew off somewhere in the storm postcode cf24 3eu",
        "order_replacement_bin",
        {"postcode": "cf24 3eu", "bin_type": "food"},
    ),
    # book_bulky_waste_collection
    (
        "i need someone to come and take away an old sofa could you do friday",
        "book_bulky_waste_collection",
        {"item_description": "old sofa", "day": "friday"},
    ),
    (
        "yeah so we've got a dead fridge freezer sat in the garage any chance you could grab it monday",
        "book_bulky_waste_collection",
        {"item_description": "fridge freezer", "day": "monday"},
    ),
    (
        "um can you lot shift a double mattress and a bed frame for me",
        "book_bulky_waste_collection",
        {"item_description": "double mattress and a bed frame"},
    ),
    (
        "how do i get a wardrobe taken off my hands wednesday would suit",
        "book_bulky_waste_collection",
        {"item_description": "wardrobe", "day": "wednesday"},
    ),
    # cancel_bulky_waste_collection
    (
        "i arranged for you to take a settee but my neighbour's having it now so scrap that ref bw8812",
        "cancel_bulky_waste_collection",
        {"booking_reference": "bw8812"},
    ),
    (
        "hi um can i call off the big item pickup reference is 44719",
        "cancel_bulky_waste_collection",
        {"booking_reference": "44719"},
    ),
    (
        "we won't be needing the furniture job anymore the number was bk203",
        "cancel_bulky_waste_collection",
        {"booking_reference": "bk203"},
    ),
    # get_recycling_centre_hours
    (
        "what time does the tip at kirkstall shut on sunday",
        "get_recycling_centre_hours",
        {"site_name": "kirkstall", "day": "sunday"},
    ),
    (
        "is the dump on mill lane open on a tuesday and till when",
        "get_recycling_centre_hours",
        {"site_name": "mill lane", "day": "tuesday"},
    ),
    (
        "uh when can i get into the hollybank one saturday i've got a boot full of cardboard",
        "get_recycling_centre_hours",
        {"site_name": "hollybank", "day": "saturday"},
    ),
    # no tool: small talk / call handling
    (
        "sorry can you hold on one sec someone's at the door",
        None,
        {},
    ),
    (
        "brilliant thanks love that's all i needed cheers bye",
        None,
        {},
    ),
    # no tool: close to the business but not covered
    (
        "there's a load of rubbish been dumped at the end of our lane who do i tell about that",
        None,
        {},
    ),
    (
        "can we have a second general waste bin because there's six of us in the house",
        None,
        {},
    ),
    (
        "the bin man was really rude to my mum this morning and i want to complain",
        None,
        {},
    ),
    (
        "do i need a permit to take a van to the tip",
        None,
        {},
    ),
]
