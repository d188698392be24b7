{{ config(materialized='view', tags=['flags_input']) }}
-- A view, created by the load's first dbt step (tag flags_input): the quality flags judge the same parts (split
-- shares, scope) before the per-year models read them; readers filter the years they need.
-- One row per school part (primary / junior section) and year (spec §1). Whole-school facilities are split by
-- weighted student shares: weight(section) x students(section) / sum over the school's sections (seed split_weights:
-- 九年一贯制 A/(A+1.1B), 1.1B/(A+1.1B); 完全中学 B/(B+1.2C); 十二年一贯制 A/(A+1.1B+1.32C), 1.1B/(A+1.1B+1.32C)).
-- Section counts (students, classes, teachers) come from the section's own columns. Special schools have no part.

with schools as (
    select * from {{ ref('stg_census_schools') }}
),

sections as (
    select
        s.*,
        n.section,
        coalesce(p.weight, n.weight) as weight,
        coalesce(case n.section
            when 'primary' then s.primary_students
            when 'junior' then s.junior_students
            when 'senior' then s.senior_students
        end, 0) as section_students
    from schools s
    join {{ ref('split_weights') }} n
        on n.province_code = '*' and n.school_type = s.school_type
    left join {{ ref('split_weights') }} p
        on p.province_code = s.province_code and p.school_type = s.school_type and p.section = n.section
),

-- a window sum, not a join to the grouped sections: as a view read inside larger queries, the join's row estimate
-- made DuckDB build hash tables on the millions-row side (school_indicators 2x slower than from a table); the same
-- sum in the same order (section), so the same doubles
weighted as (
    select
        s.*,
        sum(weight * section_students order by section) over (partition by year, school_code) as weighted_students
    from sections s
),

parts as (
    select
        w.*,
        case when w.weighted_students > 0 then w.weight * w.section_students / w.weighted_students end as split_share
    from weighted w
    where w.section in ('primary', 'junior')
)

select
    cast(p.year as integer) as year,
    cast(p.school_code as varchar) as school_code,
    cast(p.school_name as varchar) as school_name,
    cast(p.county_code as varchar) as county_code,
    cast(p.province_code as varchar) as province_code,
    cast(p.school_type as varchar) as school_type,
    cast(p.ownership as varchar) as ownership,
    cast(p.authority as varchar) as authority,
    cast(p.urban_rural as varchar) as urban_rural,
    cast(p.section as varchar) as level,
    cast(p.section_students as double) as students,
    cast(case p.section when 'primary' then p.primary_classes else p.junior_classes end as double) as classes,
    cast(case p.section when 'primary' then p.primary_classes_over_45 else p.junior_classes_over_50 end as double) as classes_oversized,
    cast(p.split_share as double) as split_share,
    cast(case p.section when 'primary' then p.primary_teachers else p.junior_teachers end as double) as teachers,
    cast(case p.section when 'primary' then p.primary_teachers_above_degree else p.junior_teachers_above_degree end as double) as teachers_above_degree,
    cast(case p.section when 'primary' then p.primary_teachers_senior_title else p.junior_teachers_senior_title end as double) as teachers_senior_title,
    cast(case p.section when 'primary' then p.primary_backbone_teachers else p.junior_backbone_teachers end as double) as backbone_teachers,
    cast(case p.section when 'primary' then p.primary_pe_art_teachers else p.junior_pe_art_teachers end as double) as pe_art_teachers,
    cast(p.teaching_aux_area_m2 * p.split_share as double) as teaching_aux_area_m2,
    cast(p.sports_area_m2 * p.split_share as double) as sports_area_m2,
    cast(p.equipment_value_10k_yuan * {{ cfg('yuan', 'value') }} * p.split_share as double) as equipment_value_yuan,
    cast(p.books * p.split_share as double) as books,
    cast(p.computers * p.split_share as double) as computers,
    cast(p.multimedia_classrooms * p.split_share as double) as multimedia_classrooms,
    -- 2012 scope (spec §3): county-run public schools of the five regular types; no teaching points.
    cast(p.school_type in ('primary', 'junior', 'nine_year', 'complete_secondary', 'twelve_year')
        and p.ownership = 'public' and p.authority = 'county' as boolean) as in_basic_scope,
    -- 2017 scope (spec §4.1): every school, public or private, whoever runs it; teaching points from N students.
    cast(p.school_type <> 'teaching_point' or p.section_students >= {{ cfg('tp', 'value') }} as boolean) as in_quality_scope
from parts p
{{ cfg_join('method_constants', 'yuan', 'p.province_code', {'constant': "'yuan_per_10k_yuan'"}) }}
{{ cfg_join('method_constants', 'tp', 'p.province_code', {'constant': "'teaching_point_min_students'"}) }}
