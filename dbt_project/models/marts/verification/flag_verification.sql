-- One row per question to a county (issue 15): every school-level warning flag now in marts.submission_flags
-- (open, or confirmed when a 确认无误 answer still applies to the value in force), and every correction in force
-- (corrected; the flags re-run on the corrected value, so a correction that is itself implausible is a new open
-- flag beside it). raised_at: when the value now in force arrived (the census load, or the correction's import).
-- depends_on: {{ source('raw', 'flag_answers') }}
-- (the raw.* views of lib/verify/store.py read raw.flag_answers and raw.census_schools; they are named directly:
-- Python creates them, and a view takes no COMMENT ON TABLE)
with flags as (
    select * from {{ ref('stg_submission_flags') }}
    where severity = 'warning' and school_code is not null and field is not null
),

confirmations as (
    select * from raw.flag_confirmations_in_force
),

corrections as (
    select c.*, a.rule_id, a.answered_by
    from raw.census_corrections_in_force c
    join {{ source('raw', 'flag_answers') }} a on a.answer_id = c.answer_id
),

loaded as (
    select year, school_code, max(loaded_at) as loaded_at
    from {{ source('raw', 'census_schools') }}
    group by year, school_code
)

select
    cast(f.year as integer) as year,
    cast(f.county_code as varchar) as county_code,
    cast(f.school_code as varchar) as school_code,
    cast(f.rule_id as varchar) as rule_id,
    cast(f.field as varchar) as field,
    cast(case when c.answer_id is not null then 'confirmed' else 'open' end as varchar) as status,
    cast(greatest(l.loaded_at, k.imported_at) as timestamp) as raised_at,
    cast(c.answer_id as varchar) as answer_id,
    cast(c.answered_by as varchar) as answered_by,
    cast(c.imported_at as timestamp) as answered_at
from flags f
left join confirmations c
    on c.year = f.year and c.school_code = f.school_code and c.rule_id = f.rule_id and c.field = f.field
left join loaded l on l.year = f.year and l.school_code = f.school_code
left join corrections k on k.year = f.year and k.school_code = f.school_code and k.field = f.field
union all
select
    cast(k.year as integer),
    cast(k.county_code as varchar),
    cast(k.school_code as varchar),
    cast(k.rule_id as varchar),
    cast(k.field as varchar),
    cast('corrected' as varchar),
    cast(l.loaded_at as timestamp),
    cast(k.answer_id as varchar),
    cast(k.answered_by as varchar),
    cast(k.imported_at as timestamp)
from corrections k
left join loaded l on l.year = k.year and l.school_code = k.school_code
