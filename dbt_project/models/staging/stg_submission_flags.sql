-- Plausibility flags (issue 4); only 'warning' flags on a named field exclude a part from the "clean" figures, unless the
-- county confirmed the value (issue 15: raw.flag_confirmations_in_force, lib/verify/store.py): a confirmed value is real.
select
    cast(f.year as integer) as year,
    cast(f.county_code as varchar) as county_code,
    cast(f.school_code as varchar) as school_code,
    cast(f.rule_id as varchar) as rule_id,
    cast(f.severity as varchar) as severity,
    cast(f.field as varchar) as field,
    cast(f.value as double) as value,
    cast(f.expected as varchar) as expected,
    cast(f.detail as varchar) as detail,
    cast(c.answer_id is not null as boolean) as confirmed
from {{ source('quality', 'submission_flags') }} f
left join raw.flag_confirmations_in_force c
    on c.year = f.year and c.school_code = f.school_code and c.rule_id = f.rule_id and c.field = f.field
