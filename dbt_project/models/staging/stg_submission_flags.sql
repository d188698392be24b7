-- Plausibility flags (issue 4); only 'warning' flags on a named field exclude a part from the "clean" figures.
select
    cast(year as integer) as year,
    cast(county_code as varchar) as county_code,
    cast(school_code as varchar) as school_code,
    cast(rule_id as varchar) as rule_id,
    cast(severity as varchar) as severity,
    cast(field as varchar) as field,
    cast(value as double) as value,
    cast(expected as varchar) as expected,
    cast(detail as varchar) as detail
from {{ source('quality', 'submission_flags') }}
