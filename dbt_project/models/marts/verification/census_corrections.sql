{%- set measures = ['primary_students', 'junior_students', 'senior_students', 'primary_classes', 'junior_classes', 'primary_classes_over_45', 'junior_classes_over_50', 'primary_teachers', 'junior_teachers', 'primary_teachers_above_degree', 'junior_teachers_above_degree', 'primary_teachers_senior_title', 'junior_teachers_senior_title', 'primary_backbone_teachers', 'junior_backbone_teachers', 'primary_pe_art_teachers', 'junior_pe_art_teachers', 'teaching_aux_area_m2', 'sports_area_m2', 'equipment_value_10k_yuan', 'books', 'computers', 'multimedia_classrooms', 'music_rooms', 'music_room_area_m2', 'art_rooms', 'art_room_area_m2'] -%}
-- Every correction a county returned (issue 15), one row per 更正 answer, beside the value as submitted and the value
-- in force: the submitted census is never edited (raw.census_schools), corrections are data (raw.flag_answers), and
-- raw.census_schools_corrected (lib/verify/store.py) is the one place they are applied. A correction applies while
-- the submitted value is still the one the workbook was exported with; a reload that changes it reopens the flag.
-- depends_on: {{ source('raw', 'flag_answers') }}
-- (the raw.* views of lib/verify/store.py read raw.flag_answers and raw.census_schools; they are named directly:
-- Python creates them, and a view takes no COMMENT ON TABLE)
with answers as (
    select * from raw.flag_answers_applicable
    where verdict = 'corrected'
),

in_force as (
    select answer_id from raw.census_corrections_in_force
)

select
    cast(a.year as integer) as year,
    cast(a.county_code as varchar) as county_code,
    cast(a.school_code as varchar) as school_code,
    cast(s.school_name as varchar) as school_name,
    cast(a.field as varchar) as field,
    cast(a.rule_id as varchar) as rule_id,
    cast(a.current_census_value as double) as submitted_value,
    cast(a.census_value as double) as submitted_value_at_export,
    cast(a.shown_value as double) as shown_value,
    cast(a.corrected_value as double) as corrected_value,
    cast(a.applies as boolean) as still_applies,
    cast(f.answer_id is not null as boolean) as in_force,
    cast(case a.field{% for m in measures %} when '{{ m }}' then s.{{ m }}{% endfor %} end as double) as value_in_force,
    cast(a.answer_id as varchar) as answer_id,
    cast(a.answered_by as varchar) as answered_by,
    cast(a.answered_on as varchar) as answered_on,
    cast(a.note as varchar) as note,
    cast(a.source_file as varchar) as source_file,
    cast(a.source_sha256 as varchar) as source_sha256,
    cast(a.source_row as integer) as source_row,
    cast(a.imported_at as timestamp) as imported_at,
    cast(a.import_run_id as varchar) as import_run_id
from answers a
left join in_force f on f.answer_id = a.answer_id
left join {{ ref('stg_census_schools') }} s on s.year = a.year and s.school_code = a.school_code
