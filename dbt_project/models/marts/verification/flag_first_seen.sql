{{ config(materialized='incremental', incremental_strategy='append', on_schema_change='fail', tags=['trend']) }}
{%- set measures = ['primary_students', 'junior_students', 'senior_students', 'primary_classes', 'junior_classes', 'primary_classes_over_45', 'junior_classes_over_50', 'primary_teachers', 'junior_teachers', 'primary_teachers_above_degree', 'junior_teachers_above_degree', 'primary_teachers_senior_title', 'junior_teachers_senior_title', 'primary_backbone_teachers', 'junior_backbone_teachers', 'primary_pe_art_teachers', 'junior_pe_art_teachers', 'teaching_aux_area_m2', 'sports_area_m2', 'equipment_value_10k_yuan', 'books', 'computers', 'multimedia_classrooms', 'music_rooms', 'music_room_area_m2', 'art_rooms', 'art_room_area_m2'] -%}
-- When each question was first asked (issue 15): one row per school-level warning flag and the value in force it was
-- raised on, appended the first time a load sees it. A reload of the same files adds nothing (the warehouse stays the
-- same); a resubmitted or corrected value that is flagged again is a new question with its own first_seen.
with flags as (
    select f.year, f.county_code, f.school_code, f.rule_id, f.field,
           case f.field{% for m in measures %} when '{{ m }}' then s.{{ m }}{% endfor %} end as value_in_force
    from {{ ref('stg_submission_flags') }} f
    join {{ ref('stg_census_schools') }} s on s.year = f.year and s.school_code = f.school_code
    where f.severity = 'warning' and f.school_code is not null and f.field is not null
)

select distinct
    cast(f.year as integer) as year,
    cast(f.county_code as varchar) as county_code,
    cast(f.school_code as varchar) as school_code,
    cast(f.rule_id as varchar) as rule_id,
    cast(f.field as varchar) as field,
    cast(f.value_in_force as double) as value_in_force,
    cast(timezone('UTC', now()) as timestamp) as first_seen
from flags f
{% if is_incremental() %}
where not exists (
    select 1 from {{ this }} t
    where t.year = f.year and t.school_code = f.school_code and t.rule_id = f.rule_id and t.field = f.field
      and t.value_in_force is not distinct from f.value_in_force
)
{% endif %}
