{%- set measures = ['primary_students', 'junior_students', 'senior_students', 'primary_classes', 'junior_classes', 'primary_classes_over_45', 'junior_classes_over_50', 'primary_teachers', 'junior_teachers', 'primary_teachers_above_degree', 'junior_teachers_above_degree', 'primary_teachers_senior_title', 'junior_teachers_senior_title', 'primary_backbone_teachers', 'junior_backbone_teachers', 'primary_pe_art_teachers', 'junior_pe_art_teachers', 'teaching_aux_area_m2', 'sports_area_m2', 'equipment_value_10k_yuan', 'books', 'computers', 'multimedia_classrooms', 'music_rooms', 'music_room_area_m2', 'art_rooms', 'art_room_area_m2'] -%}
-- One row per question to a county (issue 15): every school-level warning flag now in marts.submission_flags
-- (open, or confirmed when a 确认无误 answer still applies to the value in force), and every correction in force
-- (corrected; the flags re-run on the corrected value, so a correction that is itself implausible is a new open
-- flag beside it). raised_at: when a load first raised the flag on the value now in force (flag_first_seen), or the
-- correction's import.
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

first_seen as (
    select * from {{ ref('flag_first_seen') }}
)

select
    cast(f.year as integer) as year,
    cast(f.county_code as varchar) as county_code,
    cast(f.school_code as varchar) as school_code,
    cast(f.rule_id as varchar) as rule_id,
    cast(f.field as varchar) as field,
    cast(case when c.answer_id is not null then 'confirmed' else 'open' end as varchar) as status,
    cast(fs.first_seen as timestamp) as raised_at,
    cast(c.answer_id as varchar) as answer_id,
    cast(c.answered_by as varchar) as answered_by,
    cast(c.imported_at as timestamp) as answered_at
from flags f
join {{ ref('stg_census_schools') }} s on s.year = f.year and s.school_code = f.school_code
left join confirmations c
    on c.year = f.year and c.school_code = f.school_code and c.rule_id = f.rule_id and c.field = f.field
left join first_seen fs
    on fs.year = f.year and fs.school_code = f.school_code and fs.rule_id = f.rule_id and fs.field = f.field
    and fs.value_in_force is not distinct from (case f.field{% for m in measures %} when '{{ m }}' then s.{{ m }}{% endfor %} end)
union all
select
    cast(k.year as integer),
    cast(k.county_code as varchar),
    cast(k.school_code as varchar),
    cast(k.rule_id as varchar),
    cast(k.field as varchar),
    cast('corrected' as varchar),
    cast(k.imported_at as timestamp),
    cast(k.answer_id as varchar),
    cast(k.answered_by as varchar),
    cast(k.imported_at as timestamp)
from corrections k
