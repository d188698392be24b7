{{ config(materialized='view') }}
-- A view: school_indicators is its one reader and writes these rows with their standards (every other model reads
-- school_indicators). As a table the same 27 M national rows were written twice (36 s of a ten-year build).
-- Long form: one row per school part, level, method and indicator, for the parts in that method's own scope
-- (spec §3 / §4.1) that have students. value = resource / students (x100 for per-hundred indicators); NULL when
-- the resource was not reported (the part is then left out of that indicator only).
-- warning_flagged: a 'warning' flag of marts.submission_flags sits on one of the indicator's census inputs
-- (seed indicator_inputs) for this school and year; it only matters for the "clean" figures.

with parts as (
    select * from {{ ref('int_school_parts') }}
    where students > 0
),

narrow as (
        select year, school_code, county_code, province_code, school_type, urban_rural, level, students,
               in_basic_scope, in_quality_scope,
               teaching_aux_area_m2, sports_area_m2, equipment_value_yuan, computers, books, teachers,
               teachers_above_degree, teachers_senior_title, backbone_teachers, pe_art_teachers, multimedia_classrooms
        from parts
),

long as (
    select * from narrow
    unpivot include nulls (resource for resource_name in (
        teaching_aux_area_m2, sports_area_m2, equipment_value_yuan, computers, books, teachers,
        teachers_above_degree, teachers_senior_title, backbone_teachers, pe_art_teachers, multimedia_classrooms
    ))
),

flagged as (
    select distinct f.year, f.school_code, i.method, i.indicator, i.level
    from {{ ref('stg_submission_flags') }} f
    join {{ ref('indicator_inputs') }} i on i.field = f.field
    where f.severity = 'warning' and f.school_code is not null and not coalesce(f.confirmed, false)
)

select
    cast(l.year as integer) as year,
    cast(l.school_code as varchar) as school_code,
    cast(l.county_code as varchar) as county_code,
    cast(l.province_code as varchar) as province_code,
    cast(l.school_type as varchar) as school_type,
    cast(l.urban_rural as varchar) as urban_rural,
    cast(l.level as varchar) as level,
    cast(d.method as varchar) as method,
    cast(d.indicator as varchar) as indicator,
    cast(l.resource as double) as resource,
    cast(l.students as double) as students,
    cast(l.resource / l.students * d.scale as double) as value,
    cast(d.scale as double) as scale,
    cast(l.resource is not null as boolean) as resource_reported,
    cast(fl.school_code is not null as boolean) as warning_flagged
from long l
join {{ ref('indicators') }} d on d.resource = l.resource_name
left join flagged fl
    on fl.year = l.year and fl.school_code = l.school_code and fl.method = d.method
    and fl.indicator = d.indicator and fl.level = l.level
where (d.method = 'basic' and l.in_basic_scope) or (d.method = 'quality' and l.in_quality_scope)
